// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {IERC20} from "./IERC20.sol";
import {DevDsrManager} from "./DevPot.sol";

/// @notice The AO stETH/DAI bridge for aolink's devnet: one contract, pool 0 = stETH and
/// pool 1 = DAI, with the real bridges' ABI (`stake`/`withdraw` selectors 0x3d0a42e7 /
/// 0x3756c011, `UserStaked`/`UserWithdrawn` events) so a watcher of the real bridges reads it
/// unchanged, and their accounting (mint-and-bridge.md §3.3 with corrections C1, C4, C7):
/// - stETH credits the balance delta of the transfer (1–2 wei under the amount); a withdrawal
///   is capped at the deposit and at the contract's stETH balance (a negative rebase shortens
///   it).
/// - DAI goes into the savings rate; the credit is exactly the amount; a withdrawal requires
///   amount ≤ the savings balance and debits what `exit` paid (amount or amount + 1), so taking
///   out a whole deposit reverts when exit pays one wei more (checked arithmetic, as the real
///   bridge does).
/// - Every stake resets the withdraw lock (`block.timestamp > lastStake + lock`, strict).
/// - The yield (everything above the recorded deposits) is swept to the treasury.
contract AOBridge {
    struct Pool {
        uint128 withdrawLockPeriodAfterStake;
        uint256 minimalStake;
        bool isPublic;
    }

    struct UserData {
        uint128 lastStake;
        uint256 deposited;
    }

    event UserStaked(uint256 indexed poolId, address indexed user, uint256 amount, bytes32 arweaveAddress);
    event UserWithdrawn(uint256 indexed poolId, address indexed user, uint256 amount, bytes32 arweaveAddress);
    event OverplusBridged(uint256 amount);
    event PoolEdited(uint256 indexed poolId, Pool pool);

    uint256 public constant STETH_POOL = 0;
    uint256 public constant DAI_POOL = 1;

    address public owner;
    address public treasury;
    IERC20 public immutable stETH;
    IERC20 public immutable dai;
    DevDsrManager public immutable dsrManager;

    Pool[2] public pools;
    uint256[2] public totalDeposited;
    mapping(address => mapping(uint256 => UserData)) public usersData;

    constructor(IERC20 stETH_, IERC20 dai_, DevDsrManager dsrManager_, address treasury_) {
        owner = msg.sender;
        stETH = stETH_;
        dai = dai_;
        dsrManager = dsrManager_;
        treasury = treasury_;
        pools[0] = Pool(0, 0, true);
        pools[1] = Pool(0, 0, true);
        dai_.approve(address(dsrManager_), type(uint256).max);
    }

    function editPool(uint256 poolId, Pool calldata pool) external {
        require(msg.sender == owner, "AOBridge: not owner");
        require(poolId < 2, "AOBridge: pool doesn't exist");
        pools[poolId] = pool;
        emit PoolEdited(poolId, pool);
    }

    function stake(uint256 poolId, uint256 amount, bytes32 arweaveAddress) external {
        require(poolId < 2, "AOBridge: pool doesn't exist");
        require(pools[poolId].isPublic, "AOBridge: pool isn't public");
        require(amount > 0, "AOBridge: nothing to stake");
        require(arweaveAddress != bytes32(0), "AOBridge: invalid arweave address");
        uint256 credited;
        if (poolId == STETH_POOL) {
            uint256 before = stETH.balanceOf(address(this));
            require(stETH.transferFrom(msg.sender, address(this), amount), "AOBridge: pull");
            credited = stETH.balanceOf(address(this)) - before;
        } else {
            require(dai.transferFrom(msg.sender, address(this), amount), "AOBridge: pull");
            dsrManager.join(address(this), amount);
            credited = amount;
        }
        UserData storage user = usersData[msg.sender][poolId];
        require(user.deposited + credited >= pools[poolId].minimalStake, "AOBridge: amount too small");
        user.deposited += credited;
        user.lastStake = uint128(block.timestamp);
        totalDeposited[poolId] += credited;
        emit UserStaked(poolId, msg.sender, credited, arweaveAddress);
    }

    function withdraw(uint256 poolId, uint256 amount, bytes32 arweaveAddress) external {
        require(poolId < 2, "AOBridge: pool doesn't exist");
        UserData storage user = usersData[msg.sender][poolId];
        Pool storage pool = pools[poolId];
        require(user.deposited > 0, "AOBridge: nothing to withdraw");
        require(
            block.timestamp > uint256(user.lastStake) + pool.withdrawLockPeriodAfterStake,
            "AOBridge: pool withdraw is locked"
        );
        if (poolId == STETH_POOL) {
            uint256 held = stETH.balanceOf(address(this));
            if (amount > user.deposited) amount = user.deposited;
            if (amount > held) amount = held;
            require(amount > 0, "AOBridge: nothing to withdraw");
            _debit(user, poolId, amount);
            require(stETH.transfer(msg.sender, amount), "AOBridge: pay");
        } else {
            require(amount <= dsrManager.daiBalance(address(this)), "AOBridge: not enough in the savings rate");
            uint256 before = dai.balanceOf(address(this));
            dsrManager.exit(address(this), amount);
            amount = dai.balanceOf(address(this)) - before;
            _debit(user, poolId, amount);
            require(dai.transfer(msg.sender, amount), "AOBridge: pay");
        }
        emit UserWithdrawn(poolId, msg.sender, amount, arweaveAddress);
    }

    function _debit(UserData storage user, uint256 poolId, uint256 amount) internal {
        uint256 remaining = user.deposited - amount;
        require(remaining == 0 || remaining >= pools[poolId].minimalStake, "AOBridge: invalid withdraw amount");
        user.deposited = remaining;
        totalDeposited[poolId] -= amount;
    }

    /// The yield: what the bridge holds above the recorded deposits (never negative).
    function overplus(uint256 poolId) public returns (uint256) {
        uint256 held =
            poolId == STETH_POOL ? stETH.balanceOf(address(this)) : dsrManager.daiBalance(address(this));
        return held > totalDeposited[poolId] ? held - totalDeposited[poolId] : 0;
    }

    function bridgeOverplus(uint256 poolId) external returns (uint256 amount) {
        require(poolId < 2, "AOBridge: pool doesn't exist");
        amount = overplus(poolId);
        require(amount > 0, "AOBridge: overplus is zero");
        if (poolId == STETH_POOL) {
            require(stETH.transfer(treasury, amount), "AOBridge: sweep");
        } else {
            uint256 before = dai.balanceOf(address(this));
            dsrManager.exit(address(this), amount);
            require(dai.transfer(treasury, dai.balanceOf(address(this)) - before), "AOBridge: sweep");
        }
        emit OverplusBridged(amount);
    }

    /// Returns a user's whole deposit (owner only), as the real bridges' refunder does.
    function ejectStakedFunds(uint256 poolId, address user_) external {
        require(msg.sender == owner, "AOBridge: not owner");
        UserData storage user = usersData[user_][poolId];
        uint256 amount = user.deposited;
        require(amount > 0, "AOBridge: nothing to eject");
        user.deposited = 0;
        totalDeposited[poolId] -= amount;
        if (poolId == STETH_POOL) {
            require(stETH.transfer(user_, amount), "AOBridge: pay");
        } else {
            uint256 before = dai.balanceOf(address(this));
            dsrManager.exit(address(this), amount);
            require(dai.transfer(user_, dai.balanceOf(address(this)) - before), "AOBridge: pay");
        }
        emit UserWithdrawn(poolId, user_, amount, bytes32(0));
    }
}
