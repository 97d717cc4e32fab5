// Pure decisions of a password rotation (PasswordRotation, ./rotation.ts): which password hashes each user should
// have live, when an old one is due to go, and what to add and remove on a node. Hashes only: no password here.

/** Per user, the SHA-256 of every password that works, the current one first. */
export type LiveHashes = Record<string, string[]>;

/**
 * What each user's live passwords become, given the last `live` (none: the first deployment) and the hash of the
 * password the program wants now. A new password goes live beside the current one, which becomes the old one (an
 * older one still waiting to go goes at once: at most two per user); the old one is dropped when `due(user)` says so.
 */
export function nextLive(live: LiveHashes | undefined, wanted: Record<string, string>, due: (user: string) => boolean): LiveHashes {
    return Object.fromEntries(
        Object.entries(wanted).map(([user, hash]) => {
            const now = live?.[user] ?? [];
            if (!now.length) return [user, [hash]];
            if (now[0] !== hash) return [user, [hash, now[0]]];
            return [user, now.length > 1 && due(user) ? [hash] : now];
        }),
    );
}

/** When each user's rotation began (ms), kept while it has an old password live; a new rotation starts at `nowMs`. */
export function rotationTimes(
    before: LiveHashes | undefined,
    after: LiveHashes,
    times: Record<string, number> | undefined,
    nowMs: number,
): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [user, hashes] of Object.entries(after)) {
        if (hashes.length < 2) continue;
        out[user] = before?.[user]?.[0] === hashes[0] && times?.[user] !== undefined ? times[user] : nowMs;
    }
    return out;
}

/** Whether `user`'s old password is due to go: it has one, and the grace period since its rotation has passed. */
export function retireDue(
    live: LiveHashes | undefined,
    times: Record<string, number> | undefined,
    user: string,
    graceSeconds: number,
    nowMs: number,
): boolean {
    return (live?.[user]?.length ?? 0) > 1 && nowMs >= (times?.[user] ?? 0) + graceSeconds * 1000;
}

/** What one node needs so that `user` has exactly `target`: hashes to add, and (after every node has them and every
 *  replica uses the new replication password) hashes to remove. */
export function passwordChanges(onNode: string[], target: string[]): { add: string[]; remove: string[] } {
    return { add: target.filter(h => !onNode.includes(h)), remove: onNode.filter(h => !target.includes(h)) };
}

/** The nodes a rotation changes live: those already deployed (in `before`) and still planned. A node new in this
 *  update does not run yet; its writer gives it the new users.acl before it starts. */
export function nodesToChange<N extends { name: string }>(before: { name: string }[] | undefined, after: N[]): N[] {
    return after.filter(n => (before ?? []).some(b => b.name === n.name));
}

/** The admin logins to try, in order: the last deployed one while the record says the wanted one is not live yet
 *  (`liveAdmin`: the admin's live hashes; `hashOf`: passwordHash), else the wanted one; then the other. */
export function adminLogins<A extends { username: string; password: string }>(
    wanted: A,
    before: A | undefined,
    liveAdmin: string[] | undefined,
    hashOf: (password: string) => string,
): A[] {
    if (!before || (before.username === wanted.username && before.password === wanted.password)) return [wanted];
    return liveAdmin?.includes(hashOf(wanted.password)) ? [wanted, before] : [before, wanted];
}
