// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @notice What a dApp implements to receive an AO process's answer.
interface IAOCallback {
    function onAOResult(uint256 requestId, bytes32 process, bytes calldata data) external;
}

/// @notice The gateway between Ethereum dApps and AO processes (answer format version 2).
///
/// `send` records a request (the calling dApp and the process it names) and emits
/// `RequestSent`; the relayer turns it into an AO message to `process`. `deliver` brings the
/// process's answer back: it needs signatures from at least `threshold` distinct members of the
/// signer set of `epoch`, over the EIP-712 message
///
///     Answer(uint256 requestId,bytes32 process,address target,bytes data,bytes32 tagsHash,uint64 epoch)
///
/// in the domain
///
///     EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)
///     {name: "AOGateway", version: "2", chainId: block.chainid, verifyingContract: this}
///
/// `data` is hashed with keccak256, as EIP-712 does for `bytes`. `process` and `target` are not
/// arguments of `deliver`: the gateway takes them from its own record of the request (the
/// process `send` named and the dApp that called it), so an answer signed for another process
/// or another target does not verify. `tagsHash` is opaque to the gateway and passed by the
/// relayer: keccak256(abi.encode(string[] names, string[] values)) over the answering AO
/// message's own tags; signing it binds the answer to those tags.
///
/// Signatures are 65 bytes (r ‖ s ‖ v), low-s, v 27 or 28, ordered by strictly increasing
/// signer address so none counts twice. Every signature must recover to a member of the
/// epoch's set: one that does not (an outsider's key, or a payload changed after signing)
/// reverts the whole delivery with "AOGateway: not a signer of the epoch" rather than being
/// skipped. `delivered(requestId)` tells a relayer whether an answer is already recorded.
///
/// Rotation: the owner installs a new set as epoch + 1; answers signed by the previous set stay
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

    bytes32 public constant ANSWER_TYPEHASH = keccak256(
        "Answer(uint256 requestId,bytes32 process,address target,bytes data,bytes32 tagsHash,uint64 epoch)"
    );
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
            abi.encode(DOMAIN_TYPEHASH, keccak256("AOGateway"), keccak256("2"), block.chainid, address(this))
        );
    }

    /// The EIP-712 digest the signers of `epoch_` sign for an answer to `requestId`.
    function digest(
        uint256 requestId,
        bytes32 process,
        address target,
        bytes calldata data,
        bytes32 tagsHash,
        uint64 epoch_
    ) public view returns (bytes32) {
        bytes32 structHash =
            keccak256(abi.encode(ANSWER_TYPEHASH, requestId, process, target, keccak256(data), tagsHash, epoch_));
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

    /// Whether `requestId` has an answer recorded (its callback succeeded or not).
    function delivered(uint256 requestId) external view returns (bool) {
        return status[requestId] != Status.None;
    }

    /// Records the answer `data` to `requestId` and calls the dApp back. Refused, in this order:
    /// an unknown request, one already answered, an epoch neither current nor the previous one
    /// within its overlap, a malformed signature, a signer outside the epoch's set, signatures
    /// not in strictly increasing signer order, fewer than `threshold` of them.
    function deliver(
        uint256 requestId,
        bytes calldata data,
        bytes32 tagsHash,
        uint64 epoch_,
        bytes[] calldata signatures
    ) external {
        Request memory request = requests[requestId];
        require(request.sender != address(0), "AOGateway: unknown request");
        require(status[requestId] == Status.None, "AOGateway: already delivered");
        SignerSet storage set = sets[epoch_];
        require(
            epoch_ == epoch || (epoch > 0 && epoch_ == epoch - 1 && block.timestamp <= set.validUntil),
            "AOGateway: signer set not current"
        );
        _verify(set, digest(requestId, request.process, request.sender, data, tagsHash, epoch_), signatures);
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

    /// Every signature must be a member's, in strictly increasing signer order, and at least
    /// `threshold` of them.
    function _verify(SignerSet storage set, bytes32 hash, bytes[] calldata signatures) internal view {
        address last = address(0);
        for (uint256 i = 0; i < signatures.length; i++) {
            address signer = _recover(hash, signatures[i]);
            require(set.isSigner[signer], "AOGateway: not a signer of the epoch");
            require(signer > last, "AOGateway: signatures not ordered by signer");
            last = signer;
        }
        require(signatures.length >= set.threshold, "AOGateway: quorum not reached");
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
