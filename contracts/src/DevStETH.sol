// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {IERC20} from "./IERC20.sol";

/// @notice Devnet stETH with Lido's share accounting: balances are shares × pooled ether /
/// total shares, so rebases (positive and negative) move every balance without a Transfer,
/// and a transfer of `amount` moves floor(amount × shares / pooled) shares, which delivers up
/// to 2 wei less than asked (mint-and-bridge.md §4.1, C3, C4).
contract DevStETH is IERC20 {
    string public constant name = "Dev Liquid staked Ether";
    string public constant symbol = "stETH";
    uint8 public constant decimals = 18;

    event TransferShares(address indexed from, address indexed to, uint256 sharesValue);

    address public owner;
    uint256 public totalShares;
    uint256 public totalPooledEther;
    mapping(address => uint256) public sharesOf;
    mapping(address => mapping(address => uint256)) public allowance;

    constructor() {
        owner = msg.sender;
    }

    function totalSupply() external view returns (uint256) {
        return totalPooledEther;
    }

    function getSharesByPooledEth(uint256 ethAmount) public view returns (uint256) {
        if (totalPooledEther == 0) return ethAmount;
        return ethAmount * totalShares / totalPooledEther;
    }

    function getPooledEthByShares(uint256 sharesAmount) public view returns (uint256) {
        if (totalShares == 0) return 0;
        return sharesAmount * totalPooledEther / totalShares;
    }

    function balanceOf(address account) public view returns (uint256) {
        return getPooledEthByShares(sharesOf[account]);
    }

    /// Stakes `amount` of (pretend) ether for `to`, as Lido's submit does.
    function mint(address to, uint256 amount) external {
        require(msg.sender == owner, "DevStETH: not owner");
        uint256 shares = getSharesByPooledEth(amount);
        totalShares += shares;
        totalPooledEther += amount;
        sharesOf[to] += shares;
        emit Transfer(address(0), to, amount);
        emit TransferShares(address(0), to, shares);
    }

    /// The oracle report: pooled ether changes, shares do not.
    function rebase(uint256 newTotalPooledEther) external {
        require(msg.sender == owner, "DevStETH: not owner");
        totalPooledEther = newTotalPooledEther;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _transfer(msg.sender, to, amount);
        return true;
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            require(allowed >= amount, "DevStETH: allowance");
            allowance[from][msg.sender] = allowed - amount;
        }
        _transfer(from, to, amount);
        return true;
    }

    function _transfer(address from, address to, uint256 amount) internal {
        uint256 shares = getSharesByPooledEth(amount);
        require(sharesOf[from] >= shares, "DevStETH: balance");
        sharesOf[from] -= shares;
        sharesOf[to] += shares;
        emit Transfer(from, to, amount);
        emit TransferShares(from, to, shares);
    }
}
