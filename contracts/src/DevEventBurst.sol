// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// Devnet only: emits many bridge-shaped events in one transaction, so tests and benches can
/// put tens of thousands of events on a local chain in seconds (one stake per transaction would
/// take minutes). The events have the real bridge's signature, so the adapter decodes them as
/// it decodes the bridge's own.
contract DevEventBurst {
    event UserStaked(uint256 indexed poolId, address indexed user, uint256 amount, bytes32 arweaveAddress);

    /// Emits `count` stakes from the caller; the amounts are `first`, `first + 1`, ... so every
    /// event is distinct.
    function burst(uint256 count, uint256 first, bytes32 arweaveAddress) external {
        for (uint256 i = 0; i < count; i++) {
            emit UserStaked(i % 2, msg.sender, first + i, arweaveAddress);
        }
    }
}
