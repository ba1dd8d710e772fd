// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {DevDAI} from "./DevDAI.sol";

/// @notice Devnet DAI Savings Rate: Maker's Pot accumulator (`chi`, `rho`, `dsr`, `drip`, the
/// dss `rpow` that rounds half up at every step) and a DsrManager with its join/exit rounding:
/// join values a deposit at floor(wad / chi); exit burns ceil(wad / chi) and pays
/// floor(chi × pie), which is wad or wad + 1 (mint-and-bridge.md §4.2, C1, C2).
contract DevPot {
    uint256 internal constant RAY = 10 ** 27;

    address public owner;
    uint256 public dsr = RAY;
    uint256 public chi = RAY;
    uint256 public rho;
    uint256 public Pie;
    mapping(address => uint256) public pie;

    constructor() {
        owner = msg.sender;
        rho = block.timestamp;
    }

    /// dss `rpow`: x^n in base `base`, rounding half up at every multiplication.
    function rpow(uint256 x, uint256 n, uint256 base) public pure returns (uint256 z) {
        if (x == 0) return n == 0 ? base : 0;
        z = n % 2 == 0 ? base : x;
        uint256 half = base / 2;
        for (n /= 2; n != 0; n /= 2) {
            x = (x * x + half) / base;
            if (n % 2 == 1) {
                z = (z * x + half) / base;
            }
        }
    }

    function rmul(uint256 x, uint256 y) internal pure returns (uint256) {
        return x * y / RAY;
    }

    function file(uint256 dsr_) external {
        require(msg.sender == owner, "DevPot: not owner");
        require(block.timestamp == rho, "DevPot: rho not updated");
        dsr = dsr_;
    }

    /// Sets the accumulator directly (tests start from chi = 1.04e27, as the docs' examples).
    function setChi(uint256 chi_) external {
        require(msg.sender == owner, "DevPot: not owner");
        chi = chi_;
        rho = block.timestamp;
    }

    function drip() public returns (uint256 tmp) {
        require(block.timestamp >= rho, "DevPot: time");
        tmp = rmul(rpow(dsr, block.timestamp - rho, RAY), chi);
        chi = tmp;
        rho = block.timestamp;
    }

    function join(address usr, uint256 wad) external {
        require(block.timestamp == rho, "DevPot: rho not updated");
        pie[usr] += wad;
        Pie += wad;
    }

    function exit(address usr, uint256 wad) external {
        pie[usr] -= wad;
        Pie -= wad;
    }
}

/// @notice Devnet DsrManager: holds DAI in the Pot for its users.
contract DevDsrManager {
    uint256 internal constant RAY = 10 ** 27;

    DevPot public immutable pot;
    DevDAI public immutable dai;
    mapping(address => uint256) public pieOf;
    uint256 public supply;

    constructor(DevPot pot_, DevDAI dai_) {
        pot = pot_;
        dai = dai_;
    }

    function rdiv(uint256 x, uint256 y) internal pure returns (uint256) {
        return x * RAY / y;
    }

    function rdivup(uint256 x, uint256 y) internal pure returns (uint256) {
        return (x * RAY + y - 1) / y;
    }

    function rmul(uint256 x, uint256 y) internal pure returns (uint256) {
        return x * y / RAY;
    }

    function daiBalance(address usr) external returns (uint256) {
        uint256 chi = block.timestamp > pot.rho() ? pot.drip() : pot.chi();
        return rmul(chi, pieOf[usr]);
    }

    function join(address dst, uint256 wad) external {
        uint256 chi = block.timestamp > pot.rho() ? pot.drip() : pot.chi();
        uint256 pie = rdiv(wad, chi);
        pieOf[dst] += pie;
        supply += pie;
        require(dai.transferFrom(msg.sender, address(this), wad), "DevDsrManager: pull");
        pot.join(address(this), pie);
    }

    /// Pays `dst` what burning ceil(wad / chi) of the caller's savings is worth: wad or wad + 1.
    function exit(address dst, uint256 wad) external returns (uint256 amt) {
        uint256 chi = block.timestamp > pot.rho() ? pot.drip() : pot.chi();
        uint256 pie = rdivup(wad, chi);
        require(pieOf[msg.sender] >= pie, "DevDsrManager: insufficient-balance");
        pieOf[msg.sender] -= pie;
        supply -= pie;
        pot.exit(address(this), pie);
        amt = rmul(chi, pie);
        // The savings rate's yield is newly minted DAI in Maker; here the manager mints it.
        uint256 held = dai.balanceOf(address(this));
        if (held < amt) dai.mint(address(this), amt - held);
        require(dai.transfer(dst, amt), "DevDsrManager: pay");
    }
}
