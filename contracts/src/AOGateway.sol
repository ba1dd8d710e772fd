// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @notice What a dApp implements to receive an AO process's answer.
interface IAOCallback {
    function onAOResult(uint256 requestId, bytes32 process, bytes calldata data) external;
}

/// @notice The gateway between Ethereum dApps and AO processes.
///
/// `send` records a request and emits `RequestSent`; the relayer turns it into an AO message to
/// `process`. `deliver` brings the process's answer back: it needs signatures from at least
/// `threshold` distinct members of the signer set of `epoch`, over the EIP-712 message
///
///     Result(uint256 requestId,bytes32 process,address target,bytes data,uint64 epoch)
///
/// in the domain {name: "AOGateway", version: "1", chainId, verifyingContract: this}
/// (`data` hashed with keccak256, as EIP-712 does for `bytes`). Signatures are 65 bytes
/// (r ‖ s ‖ v), low-s, ordered by strictly increasing signer address so none counts twice.
///
/// Rotation: the owner installs a new set as epoch + 1; results signed by the previous set stay
/// valid for `overlap` seconds so that none in flight is stranded. A request is answered once:
/// a second `deliver` reverts whatever it carries. The dApp's callback runs with the gas left;
/// if it fails the answer is still recorded (so it cannot be replaced) and anyone may retry the
/// callback with the same data through `retryCallback`.
contract AOGateway {
    struct Request {
        address sender;
        bytes32 process;
    }

    struct SignerSet {
        uint256 threshold;
        uint64 validUntil; // 0 while current
        mapping(address => bool) isSigner;
    }

    enum Status {
        None,
        Delivered,
        CallbackFailed
    }

    event RequestSent(uint256 indexed requestId, address indexed sender, bytes32 indexed process, string action, bytes data);
    event ResultDelivered(uint256 indexed requestId, bytes32 indexed process, bool callbackOk);
    event SignerSetRotated(uint64 indexed epoch, address[] signers, uint256 threshold, uint64 previousValidUntil);

    bytes32 public constant RESULT_TYPEHASH =
        keccak256("Result(uint256 requestId,bytes32 process,address target,bytes data,uint64 epoch)");
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    uint256 internal constant HALF_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    address public owner;
    uint64 public epoch;
    uint256 public nonce;
    mapping(uint64 => SignerSet) internal sets;
    mapping(uint256 => Request) public requests;
    mapping(uint256 => Status) public status;
    mapping(uint256 => bytes32) public resultHash;

    constructor(address[] memory signers, uint256 threshold) {
        owner = msg.sender;
        _install(signers, threshold, 0);
    }

    function domainSeparator() public view returns (bytes32) {
        return keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256("AOGateway"), keccak256("1"), block.chainid, address(this))
        );
    }

    function digest(uint256 requestId, bytes32 process, address target, bytes calldata data, uint64 epoch_)
        public
        view
        returns (bytes32)
    {
        bytes32 structHash = keccak256(abi.encode(RESULT_TYPEHASH, requestId, process, target, keccak256(data), epoch_));
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
    }

    function isSigner(uint64 epoch_, address who) external view returns (bool) {
        return sets[epoch_].isSigner[who];
    }

    function threshold(uint64 epoch_) external view returns (uint256) {
        return sets[epoch_].threshold;
    }

    function send(bytes32 process, string calldata action, bytes calldata data) external returns (uint256 requestId) {
        requestId = ++nonce;
        requests[requestId] = Request(msg.sender, process);
        emit RequestSent(requestId, msg.sender, process, action, data);
    }

    function deliver(uint256 requestId, bytes calldata data, uint64 epoch_, bytes[] calldata signatures) external {
        Request memory request = requests[requestId];
        require(request.sender != address(0), "AOGateway: unknown request");
        require(status[requestId] == Status.None, "AOGateway: already delivered");
        SignerSet storage set = sets[epoch_];
        require(
            epoch_ == epoch || (epoch_ + 1 == epoch && block.timestamp <= set.validUntil),
            "AOGateway: signer set not current"
        );
        bytes32 hash = digest(requestId, request.process, request.sender, data, epoch_);
        address last = address(0);
        uint256 valid = 0;
        for (uint256 i = 0; i < signatures.length; i++) {
            address signer = _recover(hash, signatures[i]);
            require(signer > last, "AOGateway: signatures not ordered by signer");
            last = signer;
            if (set.isSigner[signer]) valid++;
        }
        require(valid >= set.threshold, "AOGateway: quorum not reached");
        resultHash[requestId] = keccak256(data);
        _callback(requestId, request, data);
    }

    function retryCallback(uint256 requestId, bytes calldata data) external {
        require(status[requestId] == Status.CallbackFailed, "AOGateway: nothing to retry");
        require(resultHash[requestId] == keccak256(data), "AOGateway: not the delivered result");
        _callback(requestId, requests[requestId], data);
    }

    function rotate(address[] calldata signers, uint256 threshold_, uint64 overlap) external {
        require(msg.sender == owner, "AOGateway: not owner");
        _install(signers, threshold_, overlap);
    }

    function _install(address[] memory signers, uint256 threshold_, uint64 overlap) internal {
        require(threshold_ > 0 && threshold_ <= signers.length, "AOGateway: bad threshold");
        uint64 previousValidUntil = 0;
        if (sets[epoch].threshold != 0) {
            previousValidUntil = uint64(block.timestamp) + overlap;
            sets[epoch].validUntil = previousValidUntil;
            epoch += 1;
        }
        SignerSet storage set = sets[epoch];
        for (uint256 i = 0; i < signers.length; i++) {
            require(signers[i] != address(0) && !set.isSigner[signers[i]], "AOGateway: bad signer");
            set.isSigner[signers[i]] = true;
        }
        set.threshold = threshold_;
        emit SignerSetRotated(epoch, signers, threshold_, previousValidUntil);
    }

    function _callback(uint256 requestId, Request memory request, bytes calldata data) internal {
        status[requestId] = Status.Delivered;
        bool ok;
        if (request.sender.code.length > 0) {
            (ok,) = request.sender.call(
                abi.encodeWithSelector(IAOCallback.onAOResult.selector, requestId, request.process, data)
            );
        } else {
            ok = true; // An account, not a contract: the event is the answer.
        }
        if (!ok) status[requestId] = Status.CallbackFailed;
        emit ResultDelivered(requestId, request.process, ok);
    }

    function _recover(bytes32 hash, bytes calldata sig) internal pure returns (address) {
        require(sig.length == 65, "AOGateway: signature length");
        bytes32 r = bytes32(sig[0:32]);
        bytes32 s = bytes32(sig[32:64]);
        uint8 v = uint8(sig[64]);
        require(uint256(s) <= HALF_ORDER, "AOGateway: high s");
        require(v == 27 || v == 28, "AOGateway: bad v");
        address signer = ecrecover(hash, v, r, s);
        require(signer != address(0), "AOGateway: bad signature");
        return signer;
    }
}
