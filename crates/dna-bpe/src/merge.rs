//! The BPE merge loop: apply rank-ordered merges to one word.
//!
//! The word is a linked list of symbols; the pair with the lowest
//! `(rank, position)` is merged until no pair has a merge. Two ways to find it:
//!
//! * [`Scratch::merge_all`] (fast path) for *monotone* merge tables: no two
//!   merges produce the same token, and every merge ranks after the merges that
//!   created its two parts. BPE trainers always produce such tables (DNABERT-2's
//!   does). Then a merge only ever creates pairs of higher rank, so ranks can be
//!   processed in increasing order from a bucket queue, each rank's pairs left
//!   to right: no heap. HF's heap pops exactly the same sequence, because with
//!   unique results its lazy check (same merged id) accepts exactly the current
//!   pairs.
//! * [`Scratch::merge_all_heap`]: Hugging Face `tokenizers`' `Word::merge_all`
//!   itself (min-heap of `(rank, position)` with lazy invalidation by merged
//!   id), used for any other merge table.

use rustc_hash::FxHashMap;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// `(left_id, right_id)` packed into one `u64` -> `(rank, merged_id)`.
pub(crate) type MergeMap = FxHashMap<u64, (u32, u32)>;

/// Packs a pair of ids into the key used by [`MergeMap`].
#[inline]
pub(crate) fn pair_key(left: u32, right: u32) -> u64 {
    (u64::from(left) << 32) | u64::from(right)
}

/// One symbol of a word being merged.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Symbol {
    /// Token id.
    pub id: u32,
    /// Index of the previous live symbol, -1 if none.
    prev: i32,
    /// Index of the next live symbol, -1 if none.
    next: i32,
    /// Length in bytes of the input covered; 0 once merged into its left neighbour.
    pub len: u32,
}

/// Reusable buffers, so that encoding many words allocates nothing per word.
#[derive(Default)]
pub(crate) struct Scratch {
    pub symbols: Vec<Symbol>,
    heap: BinaryHeap<Reverse<(u64, u32)>>,
    /// Bucket queue: first entry of each rank's list (`NIL` when empty).
    heads: Vec<u32>,
    /// Bucket entries `(pos, next entry)`.
    entries: Vec<(u32, u32)>,
    /// Bit set of the ranks whose bucket is not empty.
    nonempty: Vec<u64>,
    /// Positions of the rank being processed.
    batch: Vec<u32>,
    /// `(rank, merged id)` of the current pair at each position (`NIL` rank: no merge).
    pairs: Vec<(u32, u32)>,
}

const NIL: u32 = u32::MAX;

impl Scratch {
    /// Starts a new word.
    #[inline]
    pub fn clear(&mut self) {
        self.symbols.clear();
        self.heap.clear();
    }

    /// Appends a symbol of `len` bytes with token id `id`.
    #[inline]
    pub fn push(&mut self, id: u32, len: u32) {
        let n = self.symbols.len() as i32;
        self.symbols.push(Symbol {
            id,
            prev: n - 1,
            next: n + 1,
            len,
        });
    }

    // Long by design: the BPE merge loop (the tokenizer's hot path) kept in one function.
    /// Applies every possible merge, lowest rank first (leftmost on ties), with a
    /// bucket queue over ranks. Only valid for monotone merge tables (see module docs).
    pub fn merge_all(&mut self, merges: &MergeMap, n_ranks: usize) {
        let n = self.symbols.len();
        if n < 2 {
            return;
        }
        self.symbols[n - 1].next = -1;
        // Invariant between calls: every bucket empty, every bit clear.
        if self.heads.len() < n_ranks {
            self.heads.resize(n_ranks, NIL);
            self.nonempty.resize(n_ranks.div_ceil(64), 0);
        }
        let Scratch {
            symbols,
            heads,
            entries,
            nonempty,
            batch,
            pairs,
            ..
        } = self;
        entries.clear();
        pairs.clear();
        pairs.resize(n, (NIL, 0));
        #[inline]
        fn push(
            heads: &mut [u32],
            entries: &mut Vec<(u32, u32)>,
            nonempty: &mut [u64],
            rank: u32,
            pos: usize,
        ) {
            let r = rank as usize;
            entries.push((pos as u32, heads[r]));
            heads[r] = (entries.len() - 1) as u32;
            nonempty[r >> 6] |= 1 << (r & 63);
        }
        for pos in 0..n - 1 {
            if let Some(&(rank, id)) = merges.get(&pair_key(symbols[pos].id, symbols[pos + 1].id)) {
                pairs[pos] = (rank, id);
                push(heads, entries, nonempty, rank, pos);
            }
        }
        let mut word = 0;
        while word < nonempty.len() {
            if nonempty[word] == 0 {
                word += 1;
                continue;
            }
            let bit = nonempty[word].trailing_zeros() as usize;
            nonempty[word] &= !(1u64 << bit);
            let rank = (word * 64 + bit) as u32;
            // All pairs of this rank exist already (new pairs have higher ranks): take them left to right.
            batch.clear();
            let mut e = heads[rank as usize];
            heads[rank as usize] = NIL;
            while e != NIL {
                let (pos, next) = entries[e as usize];
                batch.push(pos);
                e = next;
            }
            batch.sort_unstable();
            for &pos in batch.iter() {
                let pos = pos as usize;
                let cur = symbols[pos];
                let (r, new_id) = pairs[pos];
                // Stale: the symbol died or an overlapping merge changed the pair.
                if cur.len == 0 || cur.next < 0 || r != rank {
                    continue;
                }
                let next_pos = cur.next as usize;
                let right = symbols[next_pos];
                symbols[pos].id = new_id;
                symbols[pos].len += right.len;
                symbols[pos].next = right.next;
                symbols[next_pos].len = 0;
                pairs[pos] = (NIL, 0);
                if right.next >= 0 {
                    let next = right.next as usize;
                    symbols[next].prev = pos as i32;
                    if let Some(&(r, id)) = merges.get(&pair_key(new_id, symbols[next].id)) {
                        pairs[pos] = (r, id);
                        push(heads, entries, nonempty, r, pos);
                    }
                }
                if cur.prev >= 0 {
                    let prev = cur.prev as usize;
                    pairs[prev] = (NIL, 0);
                    if let Some(&(r, id)) = merges.get(&pair_key(symbols[prev].id, new_id)) {
                        pairs[prev] = (r, id);
                        push(heads, entries, nonempty, r, prev);
                    }
                }
            }
        }
    }

    /// Hugging Face's exact algorithm (heap with lazy invalidation by merged id).
    pub fn merge_all_heap(&mut self, merges: &MergeMap) {
        let n = self.symbols.len();
        if n < 2 {
            return;
        }
        self.symbols[n - 1].next = -1;
        let symbols = &mut self.symbols;
        let heap = &mut self.heap;
        // Heap entries: (rank << 32 | pos, new_id), smallest first.
        for pos in 0..n - 1 {
            if let Some(&(rank, new_id)) =
                merges.get(&pair_key(symbols[pos].id, symbols[pos + 1].id))
            {
                heap.push(Reverse(((u64::from(rank) << 32) | pos as u64, new_id)));
            }
        }
        while let Some(Reverse((key, new_id))) = heap.pop() {
            let pos = (key & 0xffff_ffff) as usize;
            let cur = symbols[pos];
            if cur.len == 0 || cur.next < 0 {
                continue;
            }
            let next_pos = cur.next as usize;
            let right = symbols[next_pos];
            // Stale entry: the pair at `pos` changed since it was queued.
            match merges.get(&pair_key(cur.id, right.id)) {
                Some(&(_, id)) if id == new_id => {}
                _ => continue,
            }
            symbols[pos].id = new_id;
            symbols[pos].len += right.len;
            symbols[pos].next = right.next;
            symbols[next_pos].len = 0;
            if right.next >= 0 {
                symbols[right.next as usize].prev = pos as i32;
            }
            if cur.prev >= 0 {
                let prev = cur.prev as usize;
                if let Some(&(rank, id)) = merges.get(&pair_key(symbols[prev].id, new_id)) {
                    heap.push(Reverse(((u64::from(rank) << 32) | prev as u64, id)));
                }
            }
            if right.next >= 0 {
                let next = right.next as usize;
                if let Some(&(rank, id)) = merges.get(&pair_key(new_id, symbols[next].id)) {
                    heap.push(Reverse(((u64::from(rank) << 32) | pos as u64, id)));
                }
            }
        }
    }

    /// Live symbols left to right, as `(id, byte_len)`.
    #[inline]
    pub fn live(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.symbols
            .iter()
            .filter(|s| s.len != 0)
            .map(|s| (s.id, s.len))
    }
}
