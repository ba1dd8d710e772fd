// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {IERC20} from "./IERC20.sol";

/// @notice Devnet DAI: a plain 18-decimal ERC-20 whose owner (and the minter it names, the
/// savings-rate manager paying out yield) may mint.
contract DevDAI is IERC20 {
    string public constant name = "Dev DAI";
    string public constant symbol = "DAI";
    uint8 public constant decimals = 18;

    address public owner;
    address public minter;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    constructor() {
        owner = msg.sender;
    }

    function setMinter(address minter_) external {
        require(msg.sender == owner, "DevDAI: not owner");
        minter = minter_;
    }

    function mint(address to, uint256 amount) external {
        require(msg.sender == owner || msg.sender == minter, "DevDAI: not minter");
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
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
            require(allowed >= amount, "DevDAI: allowance");
            allowance[from][msg.sender] = allowed - amount;
        }
        _move(from, to, amount);
        return true;
    }

    function _move(address from, address to, uint256 amount) internal {
        require(balanceOf[from] >= amount, "DevDAI: balance");
        balanceOf[from] -= amount;
        balanceOf[to] += amount;
        emit Transfer(from, to, amount);
    }
}
