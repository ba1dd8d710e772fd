// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {Test, Vm} from "./Test.sol";
import {DevEventBurst} from "../src/DevEventBurst.sol";

contract DevEventBurstTest is Test {
    function testEmitsDistinctStakesWithTheBridgeSignature() public {
        DevEventBurst burst = new DevEventBurst();
        vm.recordLogs();
        burst.burst(5, 100, bytes32(uint256(42)));
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(logs.length, 5, "events");
        bytes32 staked = keccak256("UserStaked(uint256,address,uint256,bytes32)");
        for (uint256 i = 0; i < logs.length; i++) {
            assertEq(logs[i].topics[0], staked, "topic0 is the bridge's UserStaked");
            assertEq(uint256(logs[i].topics[1]), i % 2, "pool");
            (uint256 amount, bytes32 ar) = abi.decode(logs[i].data, (uint256, bytes32));
            assertEq(amount, 100 + i, "amount");
            assertEq(ar, bytes32(uint256(42)), "arweave address");
        }
    }
}
