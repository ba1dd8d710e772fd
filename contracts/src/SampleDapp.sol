// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {AOGateway, IAOCallback} from "./AOGateway.sol";

/// @notice A dApp that asks an AO process a question and keeps the answer.
contract SampleDapp is IAOCallback {
    event Answered(uint256 indexed requestId, bytes data);

    AOGateway public immutable gateway;
    mapping(uint256 => bytes) public answers;
    uint256 public lastRequest;

    constructor(AOGateway gateway_) {
        gateway = gateway_;
    }

    function ask(bytes32 process, string calldata action, bytes calldata data) external returns (uint256) {
        lastRequest = gateway.send(process, action, data);
        return lastRequest;
    }

    function onAOResult(uint256 requestId, bytes32, bytes calldata data) external {
        require(msg.sender == address(gateway), "SampleDapp: not the gateway");
        answers[requestId] = data;
        emit Answered(requestId, data);
    }
}
