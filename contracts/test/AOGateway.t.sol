// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {Test, Vm} from "./Test.sol";
import {AOGateway} from "../src/AOGateway.sol";
import {SampleDapp} from "../src/SampleDapp.sol";

contract Reverter {
    bool public fail = true;

    function setFail(bool f) external {
        fail = f;
    }

    function onAOResult(uint256, bytes32, bytes calldata) external view {
        require(!fail, "no");
    }

    function ask(AOGateway g) external returns (uint256) {
        return g.send(bytes32(uint256(1)), "Ask", "");
    }
}

contract AOGatewayTest is Test {
    AOGateway gateway;
    SampleDapp dapp;
    uint256[] keys; // keys[0..2] are epoch 0's set (2 of 3), keys[3] is an outsider
    bytes32 constant PROCESS = bytes32(uint256(0xA0));
    bytes32 constant OTHER_PROCESS = bytes32(uint256(0xB0));
    uint256 constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    function setUp() public {
        keys = [uint256(11), 22, 33, 44];
        address[] memory signers = new address[](3);
        for (uint256 i = 0; i < 3; i++) signers[i] = vm.addr(keys[i]);
        gateway = new AOGateway(signers, 2);
        dapp = new SampleDapp(gateway);
    }

    // ---- helpers ----

    /// The answering AO message's tags, hashed as the relayer does:
    /// keccak256(abi.encode(string[] names, string[] values)).
    function tags() internal pure returns (bytes32) {
        string[] memory names = new string[](2);
        string[] memory values = new string[](2);
        (names[0], values[0]) = ("Action", "Answer");
        (names[1], values[1]) = ("Request-Id", "1");
        return keccak256(abi.encode(names, values));
    }

    /// Signatures over `hash` by `who`, ordered by signer address.
    function signed(bytes32 hash, uint256[] memory who) internal returns (bytes[] memory out) {
        for (uint256 i = 0; i < who.length; i++) {
            for (uint256 j = i + 1; j < who.length; j++) {
                if (vm.addr(who[j]) < vm.addr(who[i])) (who[i], who[j]) = (who[j], who[i]);
            }
        }
        out = new bytes[](who.length);
        for (uint256 i = 0; i < who.length; i++) out[i] = sign(who[i], hash);
    }

    function sign(uint256 key, bytes32 hash) internal returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, hash);
        return abi.encodePacked(r, s, v);
    }

    /// Signatures by `who` over the answer `data`/`tagsHash` to the dApp's request `id` (asked of
    /// PROCESS) in `epoch`.
    function answer(uint256 id, bytes memory data, bytes32 tagsHash, uint64 epoch, uint256[] memory who)
        internal
        returns (bytes[] memory)
    {
        return signed(gateway.digest(id, PROCESS, address(dapp), data, tagsHash, epoch), who);
    }

    function one(uint256 a) internal pure returns (uint256[] memory w) {
        w = new uint256[](1);
        w[0] = a;
    }

    function two(uint256 a, uint256 b) internal pure returns (uint256[] memory w) {
        w = new uint256[](2);
        w[0] = a;
        w[1] = b;
    }

    function three(uint256 a, uint256 b, uint256 c) internal pure returns (uint256[] memory w) {
        w = new uint256[](3);
        w[0] = a;
        w[1] = b;
        w[2] = c;
    }

    // Signatures are always made before `expectRevert`: it applies to the next call, and
    // `answer` calls the gateway (`digest`).

    // ---- delivery ----

    function testTwoOfThreeDeliversTheAnswerToTheDapp() public {
        uint256 id = dapp.ask(PROCESS, "Ask", "hello");
        bytes memory data = "world";
        bytes[] memory s = answer(id, data, tags(), 0, two(keys[0], keys[1]));
        assertTrue(!gateway.delivered(id), "not delivered before");
        vm.recordLogs();
        gateway.deliver(id, data, tags(), 0, s);
        assertEq(keccak256(dapp.answers(id)), keccak256(data), "the dApp stored the answer");
        assertTrue(gateway.delivered(id), "delivered after");
        assertEq(uint256(gateway.status(id)), 1, "status Delivered");
        assertEq(gateway.resultHash(id), keccak256(data), "resultHash");
        // ResultDelivered(uint256 indexed requestId, bytes32 indexed process, bool callbackOk) is
        // what the Rust decoder reads: its topics and data are pinned here.
        Vm.Log[] memory logs = vm.getRecordedLogs();
        bytes32 topic = keccak256("ResultDelivered(uint256,bytes32,bool)");
        uint256 found = 0;
        for (uint256 i = 0; i < logs.length; i++) {
            if (logs[i].emitter != address(gateway)) continue;
            assertEq(logs[i].topics[0], topic, "ResultDelivered topic");
            assertEq(logs[i].topics.length, 3, "ResultDelivered topics");
            assertEq(logs[i].topics[1], bytes32(id), "requestId topic");
            assertEq(logs[i].topics[2], PROCESS, "process topic");
            assertEq(keccak256(logs[i].data), keccak256(abi.encode(true)), "callbackOk");
            found++;
        }
        assertEq(found, 1, "one ResultDelivered");
    }

    function testAnyTwoOfTheThreeAndAllThreeDeliver() public {
        uint256 a = dapp.ask(PROCESS, "Ask", "");
        uint256 b = dapp.ask(PROCESS, "Ask", "");
        gateway.deliver(a, "a", tags(), 0, answer(a, "a", tags(), 0, two(keys[1], keys[2])));
        gateway.deliver(b, "b", tags(), 0, answer(b, "b", tags(), 0, three(keys[0], keys[1], keys[2])));
        assertEq(keccak256(dapp.answers(a)), keccak256("a"), "a");
        assertEq(keccak256(dapp.answers(b)), keccak256("b"), "b");
    }

    // ---- refusals ----

    function testAForgedSignatureIsRefused() public {
        uint256 id = dapp.ask(PROCESS, "Ask", "");
        // keys[3] is outside the set: its signature reverts the delivery, it is not skipped,
        // even when the members' signatures alone would reach the quorum.
        bytes[] memory withOutsider = answer(id, "x", tags(), 0, two(keys[0], keys[3]));
        bytes[] memory quorumAndOutsider = answer(id, "x", tags(), 0, three(keys[0], keys[1], keys[3]));
        vm.expectRevert(bytes("AOGateway: not a signer of the epoch"));
        gateway.deliver(id, "x", tags(), 0, withOutsider);
        vm.expectRevert(bytes("AOGateway: not a signer of the epoch"));
        gateway.deliver(id, "x", tags(), 0, quorumAndOutsider);
        assertTrue(!gateway.delivered(id), "nothing recorded");
    }

    function testAnEpochNeverInstalledIsRefused() public {
        uint256 id = dapp.ask(PROCESS, "Ask", "");
        bytes[] memory next = answer(id, "x", tags(), 1, two(keys[0], keys[1]));
        bytes[] memory last = answer(id, "x", tags(), type(uint64).max, two(keys[0], keys[1]));
        vm.expectRevert(bytes("AOGateway: signer set not current"));
        gateway.deliver(id, "x", tags(), 1, next);
        vm.expectRevert(bytes("AOGateway: signer set not current"));
        gateway.deliver(id, "x", tags(), type(uint64).max, last);
    }

    function testThePreviousEpochIsAcceptedOnlyWithinItsOverlap() public {
        uint256 a = dapp.ask(PROCESS, "Ask", "");
        uint256 b = dapp.ask(PROCESS, "Ask", "");
        uint256 c = dapp.ask(PROCESS, "Ask", "");
        address[] memory next = new address[](2);
        next[0] = vm.addr(keys[2]);
        next[1] = vm.addr(keys[3]);
        uint256 rotatedAt = block.timestamp;
        gateway.rotate(next, 2, 600);
        assertEq(uint256(gateway.epoch()), 1, "new epoch");
        // The old set, at the last second of the overlap: accepted.
        vm.warp(rotatedAt + 600);
        gateway.deliver(a, "a", tags(), 0, answer(a, "a", tags(), 0, two(keys[0], keys[1])));
        assertEq(keccak256(dapp.answers(a)), keccak256("a"), "old set within the overlap");
        // One second later: refused.
        vm.warp(rotatedAt + 601);
        bytes[] memory stale = answer(b, "b", tags(), 0, two(keys[0], keys[1]));
        vm.expectRevert(bytes("AOGateway: signer set not current"));
        gateway.deliver(b, "b", tags(), 0, stale);
        // The old set's signatures under the new epoch: its members are not the new set's.
        bytes[] memory relabelled = answer(b, "b", tags(), 1, two(keys[0], keys[1]));
        vm.expectRevert(bytes("AOGateway: not a signer of the epoch"));
        gateway.deliver(b, "b", tags(), 1, relabelled);
        // The new set: accepted.
        gateway.deliver(b, "b", tags(), 1, answer(b, "b", tags(), 1, two(keys[2], keys[3])));
        assertEq(keccak256(dapp.answers(b)), keccak256("b"), "new set");
        assertTrue(!gateway.delivered(c), "c untouched");
        vm.prank(address(0xBAD));
        vm.expectRevert(bytes("AOGateway: not owner"));
        gateway.rotate(next, 1, 0);
    }

    function testOnlyTheDirectlyPreviousEpochOverlaps() public {
        uint256 id = dapp.ask(PROCESS, "Ask", "");
        address[] memory next = new address[](2);
        next[0] = vm.addr(keys[2]);
        next[1] = vm.addr(keys[3]);
        gateway.rotate(next, 2, 600); // epoch 0 valid until now + 600
        gateway.rotate(next, 2, 600); // epoch 2: epoch 0 is two behind, whatever its validUntil
        assertEq(uint256(gateway.epoch()), 2, "epoch 2");
        bytes[] memory old = answer(id, "x", tags(), 0, two(keys[0], keys[1]));
        vm.expectRevert(bytes("AOGateway: signer set not current"));
        gateway.deliver(id, "x", tags(), 0, old);
        gateway.deliver(id, "x", tags(), 1, answer(id, "x", tags(), 1, two(keys[2], keys[3])));
        assertTrue(gateway.delivered(id), "epoch 1 within its overlap");
    }

    function testTooFewSignersAreRefused() public {
        uint256 id = dapp.ask(PROCESS, "Ask", "");
        bytes[] memory single = answer(id, "x", tags(), 0, one(keys[0]));
        vm.expectRevert(bytes("AOGateway: quorum not reached"));
        gateway.deliver(id, "x", tags(), 0, single);
        vm.expectRevert(bytes("AOGateway: quorum not reached"));
        gateway.deliver(id, "x", tags(), 0, new bytes[](0));
    }

    function testAReplayedDeliveryIsRefused() public {
        uint256 id = dapp.ask(PROCESS, "Ask", "");
        uint256 id2 = dapp.ask(PROCESS, "Ask", "");
        bytes[] memory s = answer(id, "x", tags(), 0, two(keys[0], keys[1]));
        gateway.deliver(id, "x", tags(), 0, s);
        vm.expectRevert(bytes("AOGateway: already delivered"));
        gateway.deliver(id, "x", tags(), 0, s);
        // Nor does another quorum replace the answer.
        bytes[] memory other = answer(id, "y", tags(), 0, two(keys[1], keys[2]));
        vm.expectRevert(bytes("AOGateway: already delivered"));
        gateway.deliver(id, "y", tags(), 0, other);
        // The same signatures for another request of the same dApp and process.
        vm.expectRevert(bytes("AOGateway: not a signer of the epoch"));
        gateway.deliver(id2, "x", tags(), 0, s);
        // The same signatures at another gateway with the same signers and request id.
        address[] memory signers = new address[](3);
        for (uint256 i = 0; i < 3; i++) signers[i] = vm.addr(keys[i]);
        AOGateway elsewhere = new AOGateway(signers, 2);
        SampleDapp dapp2 = new SampleDapp(elsewhere);
        assertEq(dapp2.ask(PROCESS, "Ask", ""), id, "same request id");
        vm.expectRevert(bytes("AOGateway: not a signer of the epoch"));
        elsewhere.deliver(id, "x", tags(), 0, s);
    }

    function testAPayloadChangedAfterSigningIsRefused() public {
        uint256 id = dapp.ask(PROCESS, "Ask", "");
        bytes[] memory s = answer(id, "world", tags(), 0, two(keys[0], keys[1]));
        vm.expectRevert(bytes("AOGateway: not a signer of the epoch"));
        gateway.deliver(id, "forged", tags(), 0, s);
        vm.expectRevert(bytes("AOGateway: not a signer of the epoch"));
        gateway.deliver(id, "world", keccak256("other tags"), 0, s);
        vm.expectRevert(bytes("AOGateway: not a signer of the epoch"));
        gateway.deliver(id, "world", bytes32(0), 0, s);
        gateway.deliver(id, "world", tags(), 0, s);
        assertEq(keccak256(dapp.answers(id)), keccak256("world"), "the signed payload is delivered");
    }

    function testAnAnswerSignedForAnotherProcessOrTargetIsRefused() public {
        uint256 id = dapp.ask(PROCESS, "Ask", "");
        uint256[] memory who = two(keys[0], keys[1]);
        bytes[] memory otherProcess =
            signed(gateway.digest(id, OTHER_PROCESS, address(dapp), "x", tags(), 0), who);
        bytes[] memory otherTarget = signed(gateway.digest(id, PROCESS, address(this), "x", tags(), 0), who);
        vm.expectRevert(bytes("AOGateway: not a signer of the epoch"));
        gateway.deliver(id, "x", tags(), 0, otherProcess);
        vm.expectRevert(bytes("AOGateway: not a signer of the epoch"));
        gateway.deliver(id, "x", tags(), 0, otherTarget);
        assertTrue(!gateway.delivered(id), "nothing recorded");
    }

    function testDuplicateOrUnorderedSignaturesAreRefused() public {
        uint256 id = dapp.ask(PROCESS, "Ask", "");
        bytes[] memory dup = answer(id, "x", tags(), 0, two(keys[0], keys[0]));
        bytes[] memory ordered = answer(id, "x", tags(), 0, two(keys[0], keys[1]));
        bytes[] memory reversed = new bytes[](2);
        (reversed[0], reversed[1]) = (ordered[1], ordered[0]);
        vm.expectRevert(bytes("AOGateway: signatures not ordered by signer"));
        gateway.deliver(id, "x", tags(), 0, dup);
        vm.expectRevert(bytes("AOGateway: signatures not ordered by signer"));
        gateway.deliver(id, "x", tags(), 0, reversed);
        gateway.deliver(id, "x", tags(), 0, ordered);
    }

    function testMalformedSignaturesAreRefused() public {
        uint256 id = dapp.ask(PROCESS, "Ask", "");
        bytes32 hash = gateway.digest(id, PROCESS, address(dapp), "x", tags(), 0);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(keys[0], hash);
        bytes[] memory bad = new bytes[](1);
        bad[0] = abi.encodePacked(r, s);
        vm.expectRevert(bytes("AOGateway: signature length"));
        gateway.deliver(id, "x", tags(), 0, bad);
        // The same signature with s' = n - s (and v flipped) recovers the same signer: refused.
        bad[0] = abi.encodePacked(r, bytes32(SECP256K1_N - uint256(s)), v == 27 ? uint8(28) : uint8(27));
        vm.expectRevert(bytes("AOGateway: high s"));
        gateway.deliver(id, "x", tags(), 0, bad);
        bad[0] = abi.encodePacked(r, s, v - 27);
        vm.expectRevert(bytes("AOGateway: bad v"));
        gateway.deliver(id, "x", tags(), 0, bad);
        bad[0] = abi.encodePacked(bytes32(0), bytes32(uint256(1)), uint8(27));
        vm.expectRevert(bytes("AOGateway: bad signature"));
        gateway.deliver(id, "x", tags(), 0, bad);
    }

    function testChecksRunInTheSpecifiedOrder() public {
        uint256 id = dapp.ask(PROCESS, "Ask", "");
        bytes[] memory outsider = answer(id, "x", tags(), 0, one(keys[3]));
        // Unknown request before anything else.
        vm.expectRevert(bytes("AOGateway: unknown request"));
        gateway.deliver(999, "x", tags(), 7, outsider);
        // Epoch before the signatures.
        vm.expectRevert(bytes("AOGateway: signer set not current"));
        gateway.deliver(id, "x", tags(), 7, outsider);
        // Membership before the quorum.
        vm.expectRevert(bytes("AOGateway: not a signer of the epoch"));
        gateway.deliver(id, "x", tags(), 0, outsider);
        // Membership before the order: a member's signature, then an outsider's whose address is
        // lower (out of order too).
        bytes[] memory members = answer(id, "x", tags(), 0, two(keys[0], keys[1]));
        address high = vm.addr(keys[0]) > vm.addr(keys[1]) ? vm.addr(keys[0]) : vm.addr(keys[1]);
        uint256 low = 100;
        while (vm.addr(low) > high) low++;
        bytes[] memory mixed = new bytes[](2);
        (mixed[0], mixed[1]) = (members[1], answer(id, "x", tags(), 0, one(low))[0]);
        vm.expectRevert(bytes("AOGateway: not a signer of the epoch"));
        gateway.deliver(id, "x", tags(), 0, mixed);
        gateway.deliver(id, "x", tags(), 0, members);
        // Already delivered before the epoch and the signatures.
        vm.expectRevert(bytes("AOGateway: already delivered"));
        gateway.deliver(id, "x", tags(), 7, outsider);
    }

    // ---- the format ----

    /// The digest computed here from the type strings, and a vector computed outside Solidity
    /// (js-sha3, contracts' test vector), pin the EIP-712 format version 2.
    function testTheDigestIsTheEip712AnswerV2() public view {
        bytes32 domainTypehash =
            keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
        bytes32 answerTypehash = keccak256(
            "Answer(uint256 requestId,bytes32 process,address target,bytes data,bytes32 tagsHash,uint64 epoch)"
        );
        assertEq(gateway.ANSWER_TYPEHASH(), answerTypehash, "ANSWER_TYPEHASH");
        bytes32 domain = keccak256(
            abi.encode(domainTypehash, keccak256("AOGateway"), keccak256("2"), block.chainid, address(gateway))
        );
        assertEq(gateway.domainSeparator(), domain, "domainSeparator");
        bytes memory data = hex"00ff776f726c64";
        bytes32 structHash = keccak256(
            abi.encode(answerTypehash, uint256(7), PROCESS, address(dapp), keccak256(data), tags(), uint64(3))
        );
        bytes32 hash = keccak256(abi.encodePacked("\x19\x01", domain, structHash));
        assertEq(gateway.digest(7, PROCESS, address(dapp), data, tags(), 3), hash, "digest");

        // The same computed off-chain (js-sha3) for requestId 1, process 0xA0, target the dApp,
        // data "world", tags [Action=Answer, Request-Id=1], epoch 0, chain 31337 and the gateway
        // forge deploys first from the test contract.
        assertEq(block.chainid, 31337, "chain id");
        assertEq(address(gateway), 0x5615dEB798BB3E4dFa0139dFa1b3D433Cc23b72f, "gateway address");
        assertEq(address(dapp), 0x2e234DAe75C793f67A35089C9d99245E1C58470b, "dApp address");
        assertEq(answerTypehash, 0x01c5ca5d2b818775eafcb071b514872b3c9266d8cea8a265d6191000ccf8ab5a, "typehash vector");
        assertEq(tags(), 0x2d3ce5da00776d7ab8faca38dc5b5bf9072d88fff76c9e781c162f94f6ef52d4, "tagsHash vector");
        assertEq(domain, 0x11ca13ede8aa25f314c0f800100925be3ac20dd8c41d186a33e01440c18411b2, "domain vector");
        assertEq(
            gateway.digest(1, PROCESS, address(dapp), "world", tags(), 0),
            0xb2ea3d8f94415948555c09af6b5007faca27f813b3cccee3f247307ec98a7c50,
            "digest vector"
        );
    }

    function testTheAbiIsPinned() public pure {
        assertTrue(
            AOGateway.deliver.selector == bytes4(keccak256("deliver(uint256,bytes,bytes32,uint64,bytes[])")),
            "deliver selector"
        );
        assertTrue(
            AOGateway.digest.selector == bytes4(keccak256("digest(uint256,bytes32,address,bytes,bytes32,uint64)")),
            "digest selector"
        );
        assertTrue(AOGateway.delivered.selector == bytes4(keccak256("delivered(uint256)")), "delivered selector");
        assertTrue(AOGateway.retryCallback.selector == bytes4(keccak256("retryCallback(uint256,bytes)")), "retry");
        assertTrue(AOGateway.ResultDelivered.selector == keccak256("ResultDelivered(uint256,bytes32,bool)"), "event");
    }

    // ---- callbacks ----

    function testAFailedCallbackIsRecordedAndRetryable() public {
        Reverter r = new Reverter();
        uint256 id = r.ask(gateway);
        bytes[] memory s = signed(gateway.digest(id, bytes32(uint256(1)), address(r), "z", tags(), 0), two(keys[0], keys[1]));
        gateway.deliver(id, "z", tags(), 0, s);
        assertEq(uint256(gateway.status(id)), 2, "callback failed, recorded");
        assertTrue(gateway.delivered(id), "delivered even though the callback failed");
        vm.expectRevert(bytes("AOGateway: already delivered"));
        gateway.deliver(id, "z", tags(), 0, s);
        vm.expectRevert(bytes("AOGateway: not the delivered result"));
        gateway.retryCallback(id, "other");
        r.setFail(false);
        gateway.retryCallback(id, "z");
        assertEq(uint256(gateway.status(id)), 1, "delivered on retry");
        vm.expectRevert(bytes("AOGateway: nothing to retry"));
        gateway.retryCallback(id, "z");
    }
}
