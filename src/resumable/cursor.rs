//! Where a stream is: the position of the last delivered log, and the recent blocks needed to
//! check, on restart, that they are still canonical.

use std::collections::BTreeMap;

use alloy_primitives::B256;
use alloy_rpc_types_eth::Log;
use serde::{Deserialize, Serialize};

/// Default number of recent blocks (with delivered logs) a [`Cursor`] remembers.
pub(crate) const DEFAULT_CURSOR_BLOCKS: usize = 16;

/// The position of one delivered log: its block number, block hash and log index. Every log
/// a resumable stream delivers carries it (`block_number`, `block_hash`, `log_index`);
/// [`Position::of`] reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Position {
    /// The block the log is in.
    pub block_number: u64,
    /// That block's hash.
    pub block_hash: B256,
    /// The log's index in the block.
    pub log_index: u64,
}

impl Position {
    /// The position of a mined log; `None` for a pending log (no block yet).
    pub fn of(log: &Log) -> Option<Self> {
        Some(Self {
            block_number: log.block_number?,
            block_hash: log.block_hash?,
            log_index: log.log_index?,
        })
    }
}

/// One remembered block of a [`Cursor`]: its hash and the logs delivered from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CursorBlock {
    /// The block number.
    pub(crate) number: u64,
    /// The block hash the logs were delivered from.
    pub(crate) hash: B256,
    /// The logs delivered from this block (and not removed since), in order.
    pub(crate) logs: Vec<Log>,
}

/// A saved place in a log stream, to start a new stream from with
/// [`ResumableLogsBuilder::from_cursor`](super::ResumableLogsBuilder::from_cursor): it goes on
/// with no gap and no duplicate.
///
/// Get one with [`ResumableLogs::cursor`](super::ResumableLogs::cursor) (the position after
/// the last item the stream returned) and save it (it is `serde`). On start, the stream checks
/// the remembered blocks' hashes against the chain: blocks replaced while the process was down
/// yield removals (`removed: true`) of the remembered logs, newest first, then the
/// replacement logs. A cursor is also carried by
/// [`StreamError::DeepReorg`](super::StreamError::DeepReorg).
///
/// Its content is the stream's to read: save and restore it whole (its serde form is stable
/// within a minor version); [`next_block`](Self::next_block) and [`position`](Self::position)
/// say where it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// No log before this block was ever delivered from this cursor's stream (the block the
    /// first stream started from).
    pub(crate) start_block: u64,
    /// The next stream scans from this block on (logs of it already delivered are skipped).
    pub(crate) next_block: u64,
    /// Recent blocks with delivered logs, oldest first (at most a bounded number).
    pub(crate) blocks: Vec<CursorBlock>,
}

impl Cursor {
    /// A cursor that starts at `block`, with nothing delivered yet.
    pub fn from_block(block: u64) -> Self {
        Self {
            start_block: block,
            next_block: block,
            blocks: Vec::new(),
        }
    }

    /// The block a stream started from this cursor scans from (logs of it already delivered
    /// are skipped).
    pub fn next_block(&self) -> u64 {
        self.next_block
    }

    /// The block the first stream of this cursor's line started from: no log before it was
    /// ever delivered.
    pub fn start_block(&self) -> u64 {
        self.start_block
    }

    /// The position of the last delivered log, if one is remembered.
    pub fn position(&self) -> Option<Position> {
        self.blocks.last()?.logs.last().and_then(Position::of)
    }
}

/// Keeps a [`Cursor`] up to date as items are returned to the user.
#[derive(Debug)]
pub(crate) struct CursorTracker {
    start_block: u64,
    next_block: u64,
    blocks: BTreeMap<u64, CursorBlock>,
    cap: usize,
}

impl CursorTracker {
    pub(crate) fn new(cursor: Cursor, cap: usize) -> Self {
        Self {
            start_block: cursor.start_block,
            next_block: cursor.next_block,
            blocks: cursor.blocks.into_iter().map(|b| (b.number, b)).collect(),
            cap: cap.max(1),
        }
    }

    /// Records one item returned to the user.
    pub(crate) fn apply(&mut self, log: &Log) {
        let Some(pos) = Position::of(log) else {
            return;
        };
        if log.removed {
            if let Some(block) = self.blocks.get_mut(&pos.block_number) {
                if block.hash == pos.block_hash {
                    block.logs.retain(|l| l.log_index != Some(pos.log_index));
                }
                if block.logs.is_empty() {
                    self.blocks.remove(&pos.block_number);
                }
            }
            // Replacements for this block come next.
            self.next_block = self.next_block.min(pos.block_number);
            return;
        }
        let block = self
            .blocks
            .entry(pos.block_number)
            .or_insert_with(|| CursorBlock {
                number: pos.block_number,
                hash: pos.block_hash,
                logs: Vec::new(),
            });
        if block.hash != pos.block_hash {
            // A new block at this height without the old one's removals: the old logs are gone.
            block.hash = pos.block_hash;
            block.logs.clear();
        }
        block.logs.push(log.clone());
        block.logs.sort_by_key(|l| l.log_index);
        self.next_block = self.next_block.max(pos.block_number);
        while self.blocks.len() > self.cap {
            self.blocks.pop_first();
        }
    }

    pub(crate) fn cursor(&self) -> Cursor {
        Cursor {
            start_block: self.start_block,
            next_block: self.next_block,
            blocks: self.blocks.values().cloned().collect(),
        }
    }
}
