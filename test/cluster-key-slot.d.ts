// cluster-key-slot (ioredis's own slot function; tests and the benchmark pick keys by slot with it) ships no types.
declare module "cluster-key-slot" {
    /** The Redis Cluster hash slot (0..16383) of a key, hash tags included. */
    function keySlot(key: string | Buffer): number;
    export = keySlot;
}
