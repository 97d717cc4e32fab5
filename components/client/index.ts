export {
    connect,
    clientPlan,
    reconnectDelay,
    ClientOptions,
    ClientPlan,
    ClusterTarget,
    Credentials,
    NodeTarget,
    SpipedTarget,
    Target,
} from "./connect";
export { Client, runScript, Script } from "./scripts";
export {
    addToCounter,
    backoffDelay,
    compareAndSet,
    decrementStock,
    optimisticTransaction,
    readVersioned,
    Queue,
    RetryOptions,
    TxResult,
    Versioned,
} from "./transactions";
export { acquireLock, fenceKey, fencedWrite, readFenced, Lock } from "./locks";
export { quorum, redlock, redlockValidity, RedlockOptions, RedlockResult } from "./redlock";
