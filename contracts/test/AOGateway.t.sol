// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {Test} from "./Test.sol";
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
    uint256[] keys;
    bytes32 constant PROCESS = bytes32(uint256(0xA0));

    function setUp() public {
        keys = [uint256(11), 22, 33, 44];
        address[] memory signers = new address[](3);
        for (uint256 i = 0; i < 3; i++) signers[i] = vm.addr(keys[i]);
        gateway = new AOGateway(signers, 2);
        dapp = new SampleDapp(gateway);
    }

    /// Signatures by `who`, ordered by signer address.
    function sigs(uint256 id, bytes memory data, uint64 epoch, uint256[] memory who)
        internal
        returns (bytes[] memory out)
    {
        bytes32 hash = gateway.digest(id, PROCESS, address(dapp), data, epoch);
        for (uint256 i = 0; i < who.length; i++) {
            for (uint256 j = i + 1; j < who.length; j++) {
                if (vm.addr(who[j]) < vm.addr(who[i])) (who[i], who[j]) = (who[j], who[i]);
            }
        }
        out = new bytes[](who.length);
        for (uint256 i = 0; i < who.length; i++) {
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(who[i], hash);
            out[i] = abi.encodePacked(r, s, v);
        }
    }

    function two(uint256 a, uint256 b) internal pure returns (uint256[] memory w) {
        w = new uint256[](2);
        w[0] = a;
        w[1] = b;
    }

    function testQuorumDeliversOnceToTheDapp() public {
        uint256 id = dapp.ask(PROCESS, "Ask", "hello");
        bytes memory answer = "world";
        uint256[] memory one = new uint256[](1);
        one[0] = keys[0];
        bytes[] memory weak = sigs(id, answer, 0, one);
        vm.expectRevert(bytes("AOGateway: quorum not reached"));
        gateway.deliver(id, answer, 0, weak);
        // An outsider's signature does not count. (Signatures are made before expectRevert:
        // it applies to the next call, and signing calls the gateway.)
        bytes[] memory outsider = sigs(id, answer, 0, two(keys[0], keys[3]));
        vm.expectRevert(bytes("AOGateway: quorum not reached"));
        gateway.deliver(id, answer, 0, outsider);
        // Signatures over other data recover to other addresses.
        bytes[] memory good = sigs(id, answer, 0, two(keys[0], keys[1]));
        vm.expectRevert();
        gateway.deliver(id, "forged", 0, good);
        gateway.deliver(id, answer, 0, good);
        assertEq(keccak256(dapp.answers(id)), keccak256(answer), "the dApp stored the answer");
        bytes[] memory again = sigs(id, answer, 0, two(keys[1], keys[2]));
        vm.expectRevert(bytes("AOGateway: already delivered"));
        gateway.deliver(id, answer, 0, again);
    }

    function testDuplicateSignaturesDoNotCount() public {
        uint256 id = dapp.ask(PROCESS, "Ask", "");
        bytes[] memory s = sigs(id, "x", 0, two(keys[0], keys[0]));
        vm.expectRevert(bytes("AOGateway: signatures not ordered by signer"));
        gateway.deliver(id, "x", 0, s);
    }

    function testRotationKeepsThePreviousSetForTheOverlap() public {
        uint256 id = dapp.ask(PROCESS, "Ask", "");
        address[] memory next = new address[](2);
        next[0] = vm.addr(keys[2]);
        next[1] = vm.addr(keys[3]);
        gateway.rotate(next, 2, 600);
        assertEq(uint256(gateway.epoch()), 1, "new epoch");
        // Old set, within the overlap: accepted.
        uint256 id2 = dapp.ask(PROCESS, "Ask", "");
        gateway.deliver(id, "a", 0, sigs(id, "a", 0, two(keys[0], keys[1])));
        vm.warp(block.timestamp + 601);
        bytes[] memory stale = sigs(id2, "b", 0, two(keys[0], keys[1]));
        vm.expectRevert(bytes("AOGateway: signer set not current"));
        gateway.deliver(id2, "b", 0, stale);
        gateway.deliver(id2, "b", 1, sigs(id2, "b", 1, two(keys[2], keys[3])));
        vm.prank(address(0xBAD));
        vm.expectRevert(bytes("AOGateway: not owner"));
        gateway.rotate(next, 1, 0);
    }

    function testAFailedCallbackIsRecordedAndRetryable() public {
        Reverter r = new Reverter();
        uint256 id = r.ask(gateway);
        bytes32 hash = gateway.digest(id, bytes32(uint256(1)), address(r), "z", 0);
        uint256[] memory who = two(keys[0], keys[1]);
        if (vm.addr(who[1]) < vm.addr(who[0])) (who[0], who[1]) = (who[1], who[0]);
        bytes[] memory s = new bytes[](2);
        for (uint256 i = 0; i < 2; i++) {
            (uint8 v, bytes32 rr, bytes32 ss) = vm.sign(who[i], hash);
            s[i] = abi.encodePacked(rr, ss, v);
        }
        gateway.deliver(id, "z", 0, s);
        assertEq(uint256(gateway.status(id)), 2, "callback failed, recorded");
        vm.expectRevert(bytes("AOGateway: already delivered"));
        gateway.deliver(id, "z", 0, s);
        vm.expectRevert(bytes("AOGateway: not the delivered result"));
        gateway.retryCallback(id, "other");
        r.setFail(false);
        gateway.retryCallback(id, "z");
        assertEq(uint256(gateway.status(id)), 1, "delivered on retry");
    }
}
