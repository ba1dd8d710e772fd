// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {Test} from "./Test.sol";
import {AOBridge} from "../src/AOBridge.sol";
import {DevStETH} from "../src/DevStETH.sol";
import {DevDAI} from "../src/DevDAI.sol";
import {DevPot, DevDsrManager} from "../src/DevPot.sol";
import {IERC20} from "../src/IERC20.sol";

contract AOBridgeTest is Test {
    uint256 constant RAY = 10 ** 27;
    uint256 constant SIX_PCT = 1000000001847694957439350562;

    DevStETH steth;
    DevDAI dai;
    DevPot pot;
    DevDsrManager manager;
    AOBridge bridge;
    address alice = address(0xA11CE);
    address treasury = address(0x7EA5);
    bytes32 constant AR = bytes32(uint256(0xA4));

    function setUp() public {
        vm.warp(1_000_000);
        steth = new DevStETH();
        dai = new DevDAI();
        pot = new DevPot();
        manager = new DevDsrManager(pot, dai);
        dai.setMinter(address(manager));
        bridge = new AOBridge(IERC20(address(steth)), IERC20(address(dai)), manager, treasury);
        // 1.18 ETH per share, as the docs' worked example.
        steth.mint(address(this), 118 ether);
        steth.rebase(118 ether);
        steth.mint(address(0xBEEF), 100 ether);
        steth.rebase(steth.totalPooledEther() * 118 / 100);
        steth.transfer(alice, 20 ether);
        dai.mint(alice, 100_000 ether);
        vm.startPrank(alice);
        steth.approve(address(bridge), type(uint256).max);
        dai.approve(address(bridge), type(uint256).max);
        vm.stopPrank();
    }

    function testStethCreditsTheBalanceDelta() public {
        uint256 before = steth.balanceOf(address(bridge));
        vm.prank(alice);
        bridge.stake(0, 10 ether, AR);
        uint256 credited = steth.balanceOf(address(bridge)) - before;
        (, uint256 deposited) = bridge.usersData(alice, 0);
        assertEq(deposited, credited, "credit is the balance delta");
        assertTrue(credited <= 10 ether && credited + 2 >= 10 ether, "within 2 wei of the amount");
        assertEq(bridge.totalDeposited(0), credited, "total");
    }

    function testNegativeRebaseCapsTheWithdrawal() public {
        vm.prank(alice);
        bridge.stake(0, 10 ether, AR);
        (, uint256 deposited) = bridge.usersData(alice, 0);
        steth.rebase(steth.totalPooledEther() * 9 / 10);
        uint256 held = steth.balanceOf(address(bridge));
        assertTrue(held < deposited, "slashing left less than was deposited");
        vm.warp(block.timestamp + 1);
        vm.prank(alice);
        bridge.withdraw(0, type(uint256).max, AR);
        (, uint256 left) = bridge.usersData(alice, 0);
        assertEq(left, deposited - held, "capped at what the bridge held");
    }

    function testDaiGoesIntoTheSavingsRateAndExitPaysOneWeiMore() public {
        // chi = 1.04 with no drift, so exit(wad) pays wad + 1 for this wad (C1).
        pot.setChi(104 * RAY / 100);
        uint256 wad = 1000000000000000000013;
        address bob = address(0xB0B);
        dai.mint(bob, 1000 ether);
        vm.startPrank(bob);
        dai.approve(address(bridge), type(uint256).max);
        bridge.stake(1, 1000 ether, AR);
        vm.stopPrank();
        vm.prank(alice);
        bridge.stake(1, wad, AR);
        (, uint256 deposited) = bridge.usersData(alice, 1);
        assertEq(deposited, wad, "DAI credits exactly the amount");
        // The whole deposit: exit pays wad + 1 and the checked debit underflows.
        vm.warp(block.timestamp + 1);
        vm.prank(alice);
        vm.expectRevert();
        bridge.withdraw(1, wad, AR);
        // A partial withdrawal debits what exit paid.
        uint256 before = dai.balanceOf(alice);
        vm.prank(alice);
        bridge.withdraw(1, wad - 100, AR);
        (, uint256 left) = bridge.usersData(alice, 1);
        assertTrue(left == 100 || left == 99, "debited the amount or one wei more");
        assertEq(dai.balanceOf(alice) - before, wad - left, "alice received what was debited");
    }

    function testExitPaysWadPlusOneAtTheDocumentedPoint() public {
        pot.setChi(104 * RAY / 100);
        uint256 wad = 1000000000000000000013;
        dai.mint(address(this), 2 * wad);
        dai.approve(address(manager), type(uint256).max);
        manager.join(address(this), 2 * wad);
        manager.exit(address(0xD57), wad);
        assertEq(dai.balanceOf(address(0xD57)), 1000000000000000000014, "exit pays ...014");
    }

    function testLockIsResetByEveryStakeAndStrict() public {
        AOBridge.Pool memory pool = AOBridge.Pool(3600, 0, true);
        bridge.editPool(1, pool);
        vm.prank(alice);
        bridge.stake(1, 1000 ether, AR);
        vm.warp(block.timestamp + 3600);
        vm.prank(alice);
        vm.expectRevert(bytes("AOBridge: pool withdraw is locked"));
        bridge.withdraw(1, 1 ether, AR);
        vm.warp(block.timestamp + 1);
        vm.prank(alice);
        bridge.stake(1, 1 ether, AR);
        vm.warp(block.timestamp + 1800);
        vm.prank(alice);
        vm.expectRevert(bytes("AOBridge: pool withdraw is locked"));
        bridge.withdraw(1, 1 ether, AR);
        vm.warp(block.timestamp + 1801);
        vm.prank(alice);
        bridge.withdraw(1, 1 ether, AR);
    }

    function testOverplusGoesToTheTreasury() public {
        vm.prank(alice);
        bridge.stake(0, 10 ether, AR);
        steth.rebase(steth.totalPooledEther() * 101 / 100);
        uint256 overplus = bridge.overplus(0);
        assertTrue(overplus > 0, "a positive rebase is yield");
        bridge.bridgeOverplus(0);
        assertTrue(steth.balanceOf(treasury) + 2 >= overplus, "swept to the treasury");
        assertEq(bridge.overplus(0) <= 2 ? 0 : 1, 0, "nothing left to sweep but dust");
    }

    function testMinimalStakeAndEject() public {
        bridge.editPool(0, AOBridge.Pool(0, 5 ether, true));
        vm.prank(alice);
        vm.expectRevert(bytes("AOBridge: amount too small"));
        bridge.stake(0, 1 ether, AR);
        vm.prank(alice);
        bridge.stake(0, 6 ether, AR);
        vm.warp(block.timestamp + 1);
        vm.prank(alice);
        vm.expectRevert(bytes("AOBridge: invalid withdraw amount"));
        bridge.withdraw(0, 3 ether, AR);
        bridge.ejectStakedFunds(0, alice);
        (, uint256 left) = bridge.usersData(alice, 0);
        assertEq(left, 0, "ejected");
    }
}
