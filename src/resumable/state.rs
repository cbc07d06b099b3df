//! The position/reorg state machine of a gap-free log stream, with no I/O.
//!
//! It is told what happens (a live log, a head, the chain's hashes for the blocks it
//! remembers, backfilled logs) and answers what to do (deliver, drop a duplicate, backfill
//! through a block, check for a reorg). The driver ([`super::driver`]) and the HTTP poller
//! ([`super::poller`]) do the I/O.
//!
//! Rules:
//! - A log is identified by `(block number, log index)` *and* its block hash. A log at or
//!   before the last delivered position is a duplicate only if its block hash is the one the
//!   stream delivered (or saw in a head) at that height; a different hash is evidence of a
//!   reorg, whatever order the node told it in (`logs` before `newHeads`, as anvil does, or
//!   after), and is never dropped: the driver checks the chain and backfills the replacements.
//! - A `removed: true` log from the node is evidence too: the stream emits removals from its
//!   own record (exactly what it delivered), not the node's.
//! - Block hashes are recorded per height from heads and delivered logs; a log at a height
//!   whose recorded hash differs never joins the old block's record.

use std::collections::BTreeMap;

use alloy_primitives::B256;
use alloy_rpc_types_eth::Log;

use super::cursor::{Cursor, Position};

/// What to do with a log that arrived on the live subscription.
#[derive(Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // short-lived; the log is delivered next
pub(crate) enum Live {
    /// Deliver it (the tracker has recorded it).
    Deliver(Log),
    /// Already delivered: drop it.
    Duplicate,
    /// Blocks before it were missed: backfill through `through` first, then offer it again.
    Gap { through: u64 },
    /// Evidence of a reorg at or below `through`: check the chain, remove orphaned logs,
    /// backfill through `through` (at least).
    Reorg { through: u64 },
}

/// What to do after a head.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Head {
    /// In sequence.
    Ok,
    /// Heads were missed: backfill through `through`.
    Gap { through: u64 },
    /// The chain reorganised: check, remove, backfill through `through`.
    Reorg { through: u64 },
}

/// What to do with a backfilled log.
#[derive(Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // short-lived; the log is delivered next
pub(crate) enum Backfilled {
    /// Deliver it (recorded).
    Deliver(Log),
    /// Already delivered.
    Duplicate,
    /// Its block hash differs from the one recorded at its height: the chain moved during the
    /// backfill; check again.
    Conflict,
}

/// A reorg reached below everything remembered.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Deep {
    /// The oldest remembered block; it and everything above were replaced.
    pub oldest: u64,
    /// The newest remembered block.
    pub newest: u64,
}

#[derive(Debug, Clone, Default)]
struct Block {
    hash: Option<B256>,
    logs: Vec<Log>,
    /// The hash is known to be on a chain with the blocks below: seen in a head whose parent
    /// matched, in an `eth_getLogs` answer, or in a saved cursor. A live log arriving before
    /// its head (anvil's order) is not: the block under it may have been replaced unseen, so
    /// a reorg check does not stop at it.
    confirmed: bool,
}

/// The state machine. See the [module docs](self).
#[derive(Debug)]
pub(crate) struct Tracker {
    /// Recent blocks: hash (from a head or a delivered log) and delivered logs.
    history: BTreeMap<u64, Block>,
    cap: usize,
    /// The last delivered `(block, log index)`.
    cursor: Option<(u64, u64)>,
    /// Every log of every block through here has been delivered.
    complete_through: Option<u64>,
    last_head: Option<(u64, B256)>,
    /// No log below this block was ever delivered (a reorg reaching below it is not deep).
    start_block: u64,
}

impl Tracker {
    /// A stream that starts at `block`, nothing delivered.
    #[cfg(test)]
    pub(crate) fn from_block(block: u64, cap: usize) -> Self {
        Self::from_cursor(&Cursor::from_block(block), cap)
    }

    /// A stream that resumes from a saved cursor. Check [`Self::remembered`] against the chain
    /// first (a reorg while the process was down), then backfill.
    pub(crate) fn from_cursor(cursor: &Cursor, cap: usize) -> Self {
        let history: BTreeMap<u64, Block> = cursor
            .blocks
            .iter()
            .map(|b| {
                (
                    b.number,
                    Block {
                        hash: Some(b.hash),
                        logs: b.logs.clone(),
                        confirmed: true,
                    },
                )
            })
            .collect();
        let cursor_pos = history
            .iter()
            .rev()
            .find_map(|(n, b)| Some((*n, b.logs.last()?.log_index?)));
        Self {
            history,
            cap: cap.max(1),
            cursor: cursor_pos,
            complete_through: cursor.next_block.checked_sub(1),
            last_head: None,
            start_block: cursor.start_block,
        }
    }

    /// The first block the next backfill must (re)scan: the first not known complete, the
    /// last head's block and the last delivered log's block (its later logs may be missing).
    /// Saturates at `u64::MAX` (a node's answer no real chain reaches: nothing overflows).
    pub(crate) fn backfill_from(&self) -> u64 {
        let mut from = self
            .complete_through
            .map_or(self.start_block, |c| c.saturating_add(1));
        if let Some((b, _)) = self.cursor {
            from = from.min(b);
        }
        if let Some((h, _)) = self.last_head {
            from = from.min(h);
        }
        from
    }

    /// The blocks whose hashes to check against the chain, newest first: fetch the chain's
    /// hash for each, down to the first that matches and is confirmed (the third field).
    pub(crate) fn remembered(&self) -> Vec<(u64, Option<B256>, bool)> {
        self.history
            .iter()
            .rev()
            .map(|(n, b)| (*n, b.hash, b.confirmed))
            .collect()
    }

    /// The highest block the stream knows of (a head, a delivered log, or complete).
    pub(crate) fn known_tip(&self) -> Option<u64> {
        let mut tip = self.complete_through;
        for b in [self.last_head.map(|h| h.0), self.cursor.map(|c| c.0)]
            .into_iter()
            .flatten()
        {
            tip = Some(tip.map_or(b, |t| t.max(b)));
        }
        tip
    }

    /// A log from the live subscription.
    pub(crate) fn live_log(&mut self, log: Log) -> Live {
        let Some((block, index)) = log.block_number.zip(log.log_index) else {
            // Pending logs have no position: nothing to order or dedupe them by.
            return Live::Deliver(log);
        };
        if log.removed {
            return Live::Reorg { through: block };
        }
        if self.hash_conflicts(block, log.block_hash) {
            return Live::Reorg { through: block };
        }
        if self.delivered(block, index) {
            return Live::Duplicate;
        }
        if self.complete_through.is_some_and(|c| block <= c) && !self.history.contains_key(&block) {
            // A block known complete with nothing delivered from it: within the remembered
            // range, a log there now means the block changed; older, it is stale.
            if self.history.range(block..).next().is_some() {
                return Live::Reorg { through: block };
            }
            return Live::Duplicate;
        }
        let seen = self
            .known_tip()
            .unwrap_or(self.start_block.saturating_sub(1));
        if block > seen.saturating_add(1) {
            return Live::Gap { through: block - 1 };
        }
        match self.record(log, false) {
            Backfilled::Deliver(log) => Live::Deliver(log),
            Backfilled::Duplicate => Live::Duplicate,
            Backfilled::Conflict => Live::Reorg { through: block },
        }
    }

    /// A `newHeads` header (or a polled block).
    pub(crate) fn head(&mut self, number: u64, hash: B256, parent: B256) -> Head {
        let seen = self.history.get(&number).and_then(|b| b.hash) == Some(hash);
        if seen && self.last_head.is_some_and(|(last, _)| number <= last) {
            // The same head again (a resubscription): nothing new.
            return Head::Ok;
        }
        if self.hash_conflicts(number, Some(hash))
            || number
                .checked_sub(1)
                .is_some_and(|p| self.hash_conflicts(p, Some(parent)))
        {
            return Head::Reorg { through: number };
        }
        let verdict = match self.last_head {
            Some((last, _)) if number <= last => return Head::Reorg { through: number },
            Some((last, last_hash))
                if last.checked_add(1) == Some(number) && parent != last_hash =>
            {
                return Head::Reorg { through: number }
            }
            Some((last, _)) if number > last.saturating_add(1) => Head::Gap { through: number },
            _ => Head::Ok,
        };
        self.last_head = Some((number, hash));
        let block = self.history.entry(number).or_default();
        block.hash = Some(hash);
        block.confirmed = true;
        self.trim();
        if verdict == Head::Ok {
            // The head's parent's logs have all arrived (nodes send a block's logs together,
            // before or after its head); anything missed shows as a gap, a lag or a reconnect.
            if let Some(parent_block) = number.checked_sub(1) {
                self.backfilled_through(parent_block);
            }
        }
        verdict
    }

    /// A log from a backfill (`eth_getLogs`), in order.
    pub(crate) fn backfilled(&mut self, log: Log) -> Backfilled {
        let Some((block, index)) = log.block_number.zip(log.log_index) else {
            return Backfilled::Deliver(log);
        };
        if self.hash_conflicts(block, log.block_hash) {
            return Backfilled::Conflict;
        }
        if self.delivered(block, index) {
            return Backfilled::Duplicate;
        }
        self.record(log, true)
    }

    /// A backfill covered every block through `to`.
    pub(crate) fn backfilled_through(&mut self, to: u64) {
        self.complete_through = Some(self.complete_through.map_or(to, |c| c.max(to)));
        if self.last_head.is_some_and(|(h, _)| h < to) {
            // The backfill went past the last head seen: rescans start after it.
            self.last_head = None;
        }
    }

    /// The chain's hashes for the remembered blocks, newest first, as far as fetched: down
    /// to and including the first that matches a confirmed block (or all). If any differs,
    /// every remembered block from the lowest that differs upward is rolled back: its logs
    /// are returned as removals (newest first, `removed: true`) and the position rewinds
    /// below it, so that what is still canonical above it is delivered again after the
    /// replacements, in order. When no confirmed block matched and logs may have been
    /// delivered below the oldest remembered one, also returns [`Deep`].
    pub(crate) fn reorg(&mut self, canonical: &[(u64, Option<B256>)]) -> (Vec<Log>, Option<Deep>) {
        let mut lowest_orphaned = None;
        let mut newest_orphaned = None;
        let mut anchored = false;
        for (number, hash) in canonical {
            let Some(block) = self.history.get(number) else {
                continue;
            };
            if hash.is_some() && *hash == block.hash {
                if block.confirmed {
                    anchored = true;
                    break;
                }
                continue;
            }
            lowest_orphaned = Some(*number);
            newest_orphaned.get_or_insert(*number);
        }
        let Some(fork) = lowest_orphaned else {
            return (Vec::new(), None);
        };
        let oldest = self.history.keys().next().copied().unwrap_or(fork);
        let deep = (!anchored && fork == oldest && oldest > self.start_block).then_some(Deep {
            oldest,
            newest: newest_orphaned.unwrap_or(fork),
        });
        let mut removals = Vec::new();
        for block in self.history.split_off(&fork).into_values().rev() {
            for mut log in block.logs.into_iter().rev() {
                log.removed = true;
                removals.push(log);
            }
        }
        let fork_floor = fork.saturating_sub(1);
        self.cursor = self
            .history
            .iter()
            .rev()
            .find_map(|(n, b)| Some((*n, b.logs.last()?.log_index?)));
        if self.cursor.is_none() && self.start_block <= fork_floor {
            // Nothing remembered below the fork: logs of the still-canonical blocks are
            // already delivered (or were evicted from memory), so rescan after them only.
            self.cursor = Some((fork_floor, u64::MAX));
        }
        self.complete_through = Some(
            self.complete_through
                .map_or(fork_floor, |c| c.min(fork_floor)),
        );
        self.last_head = None;
        (removals, deep)
    }

    /// Forgets everything at and above `block`'s successor's head: used after a deep reorg to
    /// build the cursor the error carries.
    pub(crate) fn cursor_after_deep(&self, deep: &Deep) -> Cursor {
        Cursor {
            start_block: deep.oldest,
            next_block: deep.oldest,
            blocks: Vec::new(),
        }
    }

    /// Whether the log at `(block, index)` (on the recorded block hash) was delivered. Within
    /// the remembered blocks this is exact, so a log whose notification was lost (e.g. over a
    /// size quota) is still delivered when a backfill finds it, even after later ones;
    /// below them, everything up to the last delivered position counts as delivered.
    fn delivered(&self, block: u64, index: u64) -> bool {
        match self.history.get(&block) {
            Some(b) => b.logs.iter().any(|l| l.log_index == Some(index)),
            None => self.cursor.is_some_and(|c| (block, index) <= c),
        }
    }

    /// Whether `hash` differs from the hash recorded at `block`.
    fn hash_conflicts(&self, block: u64, hash: Option<B256>) -> bool {
        match (self.history.get(&block).and_then(|b| b.hash), hash) {
            (Some(recorded), Some(hash)) => recorded != hash,
            _ => false,
        }
    }

    fn record(&mut self, log: Log, confirmed: bool) -> Backfilled {
        let Some(pos) = Position::of(&log) else {
            return Backfilled::Deliver(log);
        };
        let block = self.history.entry(pos.block_number).or_default();
        match block.hash {
            Some(h) if h != pos.block_hash => return Backfilled::Conflict,
            _ => block.hash = Some(pos.block_hash),
        }
        block.confirmed |= confirmed;
        block.logs.push(log.clone());
        block.logs.sort_by_key(|l| l.log_index);
        let pos = (pos.block_number, pos.log_index);
        self.cursor = Some(self.cursor.map_or(pos, |c| c.max(pos)));
        self.trim();
        Backfilled::Deliver(log)
    }

    fn trim(&mut self) {
        while self.history.len() > self.cap {
            self.history.pop_first();
        }
    }
}

/// The span of `eth_getLogs` ranges: halves on a "too large" answer, down to one block, and
/// doubles back (up to the configured maximum) after each success.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    max: u64,
    current: u64,
}

impl Span {
    pub(crate) fn new(max: u64) -> Self {
        let max = max.max(1);
        Self { max, current: max }
    }

    /// The end of the next range starting at `from`, at most `to`.
    pub(crate) fn end(&self, from: u64, to: u64) -> u64 {
        to.min(from.saturating_add(self.current - 1))
    }

    /// The range `from..=end` was too large.
    pub(crate) fn too_large(&mut self, from: u64, end: u64) {
        self.current = (end - from).div_ceil(2).max(1);
    }

    /// A range succeeded.
    pub(crate) fn ok(&mut self) {
        self.current = self.current.saturating_mul(2).min(self.max);
    }

    pub(crate) fn current(&self) -> u64 {
        self.current
    }
}

#[cfg(test)]
mod tests {
    //! Scripted event orders, no I/O.
    use super::*;
    use alloy_primitives::{Address, LogData};

    /// The hash of block `n` on fork `f`.
    fn h(n: u64, f: u64) -> B256 {
        B256::from(alloy_primitives::U256::from((f << 32) | n))
    }

    fn log(n: u64, index: u64, f: u64) -> Log {
        Log {
            inner: alloy_primitives::Log {
                address: Address::ZERO,
                data: LogData::new_unchecked(vec![h(n, f)], Default::default()),
            },
            block_hash: Some(h(n, f)),
            block_number: Some(n),
            log_index: Some(index),
            transaction_hash: Some(h(n, f)),
            ..Default::default()
        }
    }

    fn removed(mut l: Log) -> Log {
        l.removed = true;
        l
    }

    fn head(t: &mut Tracker, n: u64, f: u64, parent_fork: u64) -> Head {
        t.head(n, h(n, f), h(n - 1, parent_fork))
    }

    /// The chain's answers for the remembered blocks, newest first, up to the first match:
    /// blocks from `fork_from` on are on fork `f`.
    fn canonical(t: &Tracker, fork_from: u64, f: u64) -> Vec<(u64, Option<B256>)> {
        let mut out = Vec::new();
        for (n, recorded, confirmed) in t.remembered() {
            let hash = Some(if n >= fork_from { h(n, f) } else { h(n, 0) });
            out.push((n, hash));
            if hash == recorded && confirmed {
                break;
            }
        }
        out
    }

    /// Block numbers at the top of `u64` (a hostile or broken node) neither panic nor wrap
    /// to block 0.
    #[test]
    fn block_numbers_at_u64_max_do_not_overflow() {
        let max = u64::MAX;
        let mut t = Tracker::from_block(max - 1, 128);
        assert_eq!(
            t.live_log(log(max - 1, 0, 0)),
            Live::Deliver(log(max - 1, 0, 0))
        );
        assert_eq!(head(&mut t, max - 1, 0, 0), Head::Ok);
        assert_eq!(t.live_log(log(max, 0, 0)), Live::Deliver(log(max, 0, 0)));
        assert_eq!(head(&mut t, max, 0, 0), Head::Ok);
        assert_eq!(t.live_log(log(max, 0, 0)), Live::Duplicate);
        t.backfilled_through(max);
        assert_eq!(t.backfill_from(), max);
        assert!(t.known_tip() == Some(max));
        // A head that jumps to u64::MAX is a gap, not a wrap.
        let mut t = Tracker::from_block(10, 128);
        assert_eq!(head(&mut t, 10, 0, 0), Head::Ok);
        assert_eq!(head(&mut t, max, 0, 0), Head::Gap { through: max });
        let mut t = Tracker::from_block(10, 128);
        t.backfilled_through(max);
        assert_eq!(t.backfill_from(), max);
    }

    #[test]
    fn logs_before_heads_are_delivered_once_in_order() {
        let mut t = Tracker::from_block(10, 128);
        assert_eq!(t.live_log(log(10, 0, 0)), Live::Deliver(log(10, 0, 0)));
        assert_eq!(t.live_log(log(10, 1, 0)), Live::Deliver(log(10, 1, 0)));
        assert_eq!(head(&mut t, 10, 0, 0), Head::Ok);
        assert_eq!(t.live_log(log(11, 0, 0)), Live::Deliver(log(11, 0, 0)));
        assert_eq!(head(&mut t, 11, 0, 0), Head::Ok);
        assert_eq!(t.live_log(log(10, 1, 0)), Live::Duplicate);
        assert_eq!(t.backfilled(log(11, 0, 0)), Backfilled::Duplicate);
    }

    #[test]
    fn heads_before_logs_are_delivered_once_in_order() {
        let mut t = Tracker::from_block(10, 128);
        assert_eq!(head(&mut t, 10, 0, 0), Head::Ok);
        assert_eq!(t.live_log(log(10, 0, 0)), Live::Deliver(log(10, 0, 0)));
        assert_eq!(head(&mut t, 11, 0, 0), Head::Ok);
        assert_eq!(t.live_log(log(11, 0, 0)), Live::Deliver(log(11, 0, 0)));
        assert_eq!(t.live_log(log(11, 0, 0)), Live::Duplicate);
    }

    #[test]
    fn a_gap_in_heads_or_logs_asks_for_a_backfill_from_the_last_complete_block() {
        let mut t = Tracker::from_block(10, 128);
        assert_eq!(head(&mut t, 10, 0, 0), Head::Ok);
        assert_eq!(t.live_log(log(10, 0, 0)), Live::Deliver(log(10, 0, 0)));
        assert_eq!(head(&mut t, 11, 0, 0), Head::Ok);
        // Block 12's logs and heads 12-13 were missed.
        assert_eq!(t.live_log(log(14, 0, 0)), Live::Gap { through: 13 });
        assert_eq!(t.backfill_from(), 10);
        assert_eq!(head(&mut t, 14, 0, 0), Head::Gap { through: 14 });
        assert_eq!(t.backfill_from(), 10);
        assert_eq!(t.backfilled(log(10, 0, 0)), Backfilled::Duplicate);
        assert_eq!(
            t.backfilled(log(12, 0, 0)),
            Backfilled::Deliver(log(12, 0, 0))
        );
        t.backfilled_through(13);
        assert_eq!(t.live_log(log(14, 0, 0)), Live::Deliver(log(14, 0, 0)));
    }

    /// Issue 12, fault 1: anvil sends the replacement block's logs before its head, and no
    /// removal. The replacement at a height already delivered must not be dropped.
    #[test]
    fn a_live_reorg_told_logs_first_removes_then_delivers_the_replacements() {
        let mut t = Tracker::from_block(10, 128);
        for n in 10..=12 {
            assert_eq!(t.live_log(log(n, 0, 0)), Live::Deliver(log(n, 0, 0)));
            assert_eq!(head(&mut t, n, 0, 0), Head::Ok);
        }
        // Blocks 11-12 replaced: the new block 11's log arrives first.
        assert_eq!(t.live_log(log(11, 0, 1)), Live::Reorg { through: 11 });
        let (removals, deep) = t.reorg(&canonical(&t, 11, 1));
        assert_eq!(deep, None);
        assert_eq!(
            removals,
            vec![removed(log(12, 0, 0)), removed(log(11, 0, 0))]
        );
        // Rescans from the last block still delivered (its later logs may be missing).
        assert_eq!(t.backfill_from(), 10);
        assert_eq!(t.backfilled(log(10, 0, 0)), Backfilled::Duplicate);
        // The backfill delivers the replacements; the live notices that follow are duplicates.
        assert_eq!(
            t.backfilled(log(11, 0, 1)),
            Backfilled::Deliver(log(11, 0, 1))
        );
        assert_eq!(
            t.backfilled(log(12, 0, 1)),
            Backfilled::Deliver(log(12, 0, 1))
        );
        t.backfilled_through(12);
        assert_eq!(t.live_log(log(12, 0, 1)), Live::Duplicate);
        assert_eq!(head(&mut t, 11, 1, 0), Head::Ok);
        assert_eq!(head(&mut t, 12, 1, 1), Head::Ok);
        // The record at each height carries the new hash.
        assert_eq!(t.remembered()[0], (12, Some(h(12, 1)), true));
        assert_eq!(t.remembered()[1], (11, Some(h(11, 1)), true));
        assert_eq!(t.live_log(log(13, 0, 1)), Live::Deliver(log(13, 0, 1)));
    }

    #[test]
    fn a_live_reorg_told_head_first_is_found_by_the_parent_hash() {
        let mut t = Tracker::from_block(10, 128);
        for n in 10..=11 {
            assert_eq!(head(&mut t, n, 0, 0), Head::Ok);
            assert_eq!(t.live_log(log(n, 0, 0)), Live::Deliver(log(n, 0, 0)));
        }
        // New block 11 (sibling), then 12 on top of it.
        assert_eq!(head(&mut t, 11, 1, 0), Head::Reorg { through: 11 });
        assert_eq!(head(&mut t, 12, 1, 1), Head::Reorg { through: 12 });
        let (removals, _) = t.reorg(&canonical(&t, 11, 1));
        assert_eq!(removals, vec![removed(log(11, 0, 0))]);
        assert_eq!(
            t.backfilled(log(11, 0, 1)),
            Backfilled::Deliver(log(11, 0, 1))
        );
    }

    /// Found by the chaos run: anvil replaced the top block without telling; the next block's
    /// log (on the new chain) arrives before its head and is delivered; the head then shows
    /// the parent changed. The check must not stop at the new block (it matches the chain):
    /// the replaced block's log is removed, and the new block's log comes again after the
    /// replacement, in order.
    #[test]
    fn a_reorg_revealed_by_a_later_blocks_parent_removes_below_a_matching_unconfirmed_block() {
        let mut t = Tracker::from_block(10, 128);
        for n in 10..=12 {
            assert_eq!(t.live_log(log(n, 0, 0)), Live::Deliver(log(n, 0, 0)));
            assert_eq!(head(&mut t, n, 0, 0), Head::Ok);
        }
        // Block 12 replaced silently; block 13 on top of the new 12.
        assert_eq!(t.live_log(log(13, 0, 1)), Live::Deliver(log(13, 0, 1)));
        assert_eq!(head(&mut t, 13, 1, 1), Head::Reorg { through: 13 });
        let chain = |n: u64| if n >= 12 { h(n, 1) } else { h(n, 0) };
        let mut canonical = Vec::new();
        for (n, recorded, confirmed) in t.remembered() {
            canonical.push((n, Some(chain(n))));
            if Some(chain(n)) == recorded && confirmed {
                break;
            }
        }
        assert_eq!(
            canonical.len(),
            3,
            "checked through the matching, unconfirmed 13"
        );
        let (removals, deep) = t.reorg(&canonical);
        assert_eq!(deep, None);
        assert_eq!(
            removals,
            vec![removed(log(13, 0, 1)), removed(log(12, 0, 0))]
        );
        assert_eq!(t.backfilled(log(11, 0, 0)), Backfilled::Duplicate);
        assert_eq!(
            t.backfilled(log(12, 0, 1)),
            Backfilled::Deliver(log(12, 0, 1))
        );
        assert_eq!(
            t.backfilled(log(13, 0, 1)),
            Backfilled::Deliver(log(13, 0, 1))
        );
    }

    #[test]
    fn a_removed_log_from_the_node_asks_for_a_check_not_a_pass_through() {
        let mut t = Tracker::from_block(10, 128);
        assert_eq!(t.live_log(log(10, 0, 0)), Live::Deliver(log(10, 0, 0)));
        assert_eq!(
            t.live_log(removed(log(10, 0, 0))),
            Live::Reorg { through: 10 }
        );
        // A removal of something never delivered is a check too (and removes nothing).
        assert_eq!(
            t.live_log(removed(log(30, 0, 0))),
            Live::Reorg { through: 30 }
        );
        assert_eq!(t.reorg(&canonical(&t, 99, 1)), (vec![], None));
    }

    #[test]
    fn a_reorg_during_an_outage_is_found_by_the_check_on_resync() {
        let mut t = Tracker::from_block(10, 128);
        for n in 10..=14 {
            assert_eq!(head(&mut t, n, 0, 0), Head::Ok);
            assert_eq!(t.live_log(log(n, 0, 0)), Live::Deliver(log(n, 0, 0)));
        }
        // While away, 13 and 14 were replaced.
        let (removals, deep) = t.reorg(&canonical(&t, 13, 1));
        assert_eq!(deep, None);
        assert_eq!(
            removals,
            vec![removed(log(14, 0, 0)), removed(log(13, 0, 0))]
        );
        assert_eq!(t.backfill_from(), 12);
        assert_eq!(t.backfilled(log(12, 0, 0)), Backfilled::Duplicate);
        assert_eq!(
            t.backfilled(log(13, 0, 1)),
            Backfilled::Deliver(log(13, 0, 1))
        );
    }

    #[test]
    fn a_reorg_deeper_than_the_history_is_deep() {
        let mut t = Tracker::from_block(10, 3);
        for n in 10..=15 {
            assert_eq!(head(&mut t, n, 0, 0), Head::Ok);
            assert_eq!(t.live_log(log(n, 0, 0)), Live::Deliver(log(n, 0, 0)));
        }
        let (removals, deep) = t.reorg(&canonical(&t, 11, 1));
        assert_eq!(
            deep,
            Some(Deep {
                oldest: 13,
                newest: 15
            })
        );
        assert_eq!(removals.len(), 3);
        // Within the history, it is not.
        let mut t = Tracker::from_block(10, 3);
        for n in 10..=15 {
            assert_eq!(head(&mut t, n, 0, 0), Head::Ok);
        }
        assert_eq!(t.reorg(&canonical(&t, 14, 1)).1, None);
        // Nor when the stream started inside the replaced blocks.
        let mut t = Tracker::from_block(14, 3);
        assert_eq!(t.live_log(log(14, 0, 0)), Live::Deliver(log(14, 0, 0)));
        assert_eq!(t.reorg(&canonical(&t, 14, 1)).1, None);
    }

    #[test]
    fn a_missed_notification_is_delivered_by_the_next_backfill() {
        // An oversized notification never arrives; a backfill signal makes the stream
        // rescan from the last remembered block, and the missed log is not a duplicate.
        let mut t = Tracker::from_block(10, 128);
        assert_eq!(head(&mut t, 10, 0, 0), Head::Ok);
        assert_eq!(t.live_log(log(10, 0, 0)), Live::Deliver(log(10, 0, 0)));
        assert_eq!(head(&mut t, 11, 0, 0), Head::Ok);
        // (11, 0) lost; (11, 1) arrives.
        assert_eq!(t.live_log(log(11, 1, 0)), Live::Deliver(log(11, 1, 0)));
        assert_eq!(head(&mut t, 12, 0, 0), Head::Ok);
        assert!(t.backfill_from() <= 11);
        assert_eq!(
            t.backfilled(log(11, 0, 0)),
            Backfilled::Deliver(log(11, 0, 0))
        );
        assert_eq!(t.backfilled(log(11, 1, 0)), Backfilled::Duplicate);
    }

    #[test]
    fn resuming_from_a_cursor_checks_its_blocks_and_removes_the_orphaned_logs() {
        use super::super::cursor::CursorTracker;
        let mut user = CursorTracker::new(Cursor::from_block(10), 16);
        for l in [log(10, 0, 0), log(11, 0, 0), log(11, 1, 0)] {
            user.apply(&l);
        }
        let saved = user.cursor();
        assert_eq!(saved.position().unwrap().log_index, 1);
        assert_eq!(saved.next_block, 11);
        // Round trip through JSON, as a user saves it.
        let saved: Cursor = serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap();
        let mut t = Tracker::from_cursor(&saved, 128);
        // Unchanged chain: nothing removed, rescan from 11 without duplicates.
        let same: Vec<_> = t
            .remembered()
            .iter()
            .map(|(n, _, _)| (*n, Some(h(*n, 0))))
            .collect();
        assert_eq!(t.reorg(&same[..1]), (vec![], None));
        assert_eq!(t.backfill_from(), 11);
        assert_eq!(t.backfilled(log(11, 1, 0)), Backfilled::Duplicate);
        assert_eq!(
            t.backfilled(log(11, 2, 0)),
            Backfilled::Deliver(log(11, 2, 0))
        );
        // Block 11 replaced while down: removals of what the cursor remembers there.
        let mut t = Tracker::from_cursor(&saved, 128);
        let (removals, deep) = t.reorg(&canonical(&t, 11, 1));
        assert_eq!(deep, None);
        assert_eq!(
            removals,
            vec![removed(log(11, 1, 0)), removed(log(11, 0, 0))]
        );
        assert_eq!(t.backfill_from(), 10);
        assert_eq!(t.backfilled(log(10, 0, 0)), Backfilled::Duplicate);
        assert_eq!(
            t.backfilled(log(11, 0, 1)),
            Backfilled::Deliver(log(11, 0, 1))
        );
        // Everything replaced, and logs may lie below: deep.
        let mut t = Tracker::from_cursor(&saved, 128);
        let (_, deep) = t.reorg(&canonical(&t, 10, 1));
        assert_eq!(deep, None, "the cursor started at 10: nothing below it");
        let mut later = saved.clone();
        later.start_block = 5;
        let mut t = Tracker::from_cursor(&later, 128);
        assert_eq!(
            t.reorg(&canonical(&t, 10, 1)).1,
            Some(Deep {
                oldest: 10,
                newest: 11
            })
        );
    }

    #[test]
    fn the_user_side_cursor_follows_removals() {
        use super::super::cursor::CursorTracker;
        let mut user = CursorTracker::new(Cursor::from_block(10), 2);
        for l in [log(10, 0, 0), log(11, 0, 0), log(12, 0, 0)] {
            user.apply(&l);
        }
        assert_eq!(user.cursor().blocks.len(), 2, "bounded");
        user.apply(&removed(log(12, 0, 0)));
        let c = user.cursor();
        assert_eq!(c.next_block, 12);
        assert_eq!(c.position().unwrap().block_number, 11);
    }

    #[test]
    fn ranges_halve_down_to_one_block_and_grow_back() {
        let mut s = Span::new(8);
        assert_eq!(s.end(100, 1000), 107);
        s.too_large(100, 107);
        assert_eq!(s.end(100, 1000), 103);
        s.too_large(100, 103);
        s.too_large(100, 101);
        assert_eq!(s.end(100, 1000), 100);
        s.too_large(100, 100);
        assert_eq!(s.current(), 1);
        s.ok();
        s.ok();
        s.ok();
        s.ok();
        assert_eq!(s.current(), 8);
        assert_eq!(s.end(5, 6), 6);
    }
}
