// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {Test} from "./Test.sol";
import {DevPot} from "../src/DevPot.sol";

contract DevPotTest is Test {
    uint256 constant RAY = 10 ** 27;

    function testRpowMatchesTheC2Vector() public {
        DevPot pot = new DevPot();
        pot.setChi(104 * RAY / 100);
        pot.file(1000000001847694957439350562);
        vm.warp(block.timestamp + 1 days);
        assertEq(pot.drip(), 1040166039730951065339269566, "chi after one day at 6%");
    }

    function testRpowEdges() public {
        DevPot pot = new DevPot();
        assertEq(pot.rpow(0, 0, RAY), RAY, "0^0");
        assertEq(pot.rpow(0, 5, RAY), 0, "0^5");
        assertEq(pot.rpow(2 * RAY, 10, RAY), 1024 * RAY, "2^10");
    }
}
