//! The BPE merge loop: HF `BpeTrainer::do_train` replayed on an arena with
//! per-pair occurrence lists.
//!
//! HF behaviour reproduced here, quirks included (tokenizers 0.21
//! `models/bpe/trainer.rs` and `word.rs`):
//! - pair counts are weighted by word counts and only ever change through the
//!   `(pair, ±1)` deltas `Word::merge` emits: when `a b` merges into `x` with
//!   left neighbour `l` and right neighbour `r`, `(l, a)` and `(b, r)` lose one
//!   and `(l, x)` / `(x, r)` gain one *only if* the two lengths sum to less than
//!   `max_token_length`. The merged pair itself is never decremented.
//! - the heap orders by count, then by the smaller `(left id, right id)` pair;
//!   a popped entry whose count is stale is pushed back with the current count.
//! - every heap entry carries its own set of words: initial entries all words
//!   containing the pair, entries pushed after a merge only the words where
//!   that pair gained in that step. A popped entry merges only in its words,
//!   so a pair can be merged again later; the repeated merge reuses the token id.
//! - within a word, occurrences merge left to right without overlap.
//!
//! Cost: a merge visits only the occurrences of its pair (plus stale ones
//! left behind, purged lazily), not every word containing it.
//!
//! Not reproducible: HF pops entries with equal count and pair (possible
//! only for a pair with several entries) in an order that depends on its
//! random hash seeds; here the first pushed pops first. On real DNA (vocab
//! 4096 at 10 and 50 Mbp) no pair was merged twice and the output matched HF.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

use super::arena::{self, Arena, DEAD, SEP, Vocab};
use super::wordset::{WordCursor, WordSet};
use super::{TrainError, TrainStats, TrainedBpe, TrainerConfig, WordCounts};

const NONE: u32 = u32::MAX;

struct Entry {
    count: u64,
    a: u32,
    b: u32,
    /// Push order; breaks ties between entries of the same pair and count
    /// (first pushed pops first; HF's order there depends on hash seeds).
    seq: u64,
    pid: u32,
    words: WordSet,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.count
            .cmp(&other.count)
            .then_with(|| (other.a, other.b).cmp(&(self.a, self.b)))
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

struct Pair {
    a: u32,
    b: u32,
    /// HF's `pair_counts` value (weighted, quirks included).
    count: i64,
    /// Arena positions of the left symbol of (possibly stale) occurrences.
    occ: Vec<u32>,
    /// Step in which `slot` was last assigned.
    stamp: u32,
    /// Index of this pair among the pairs that gained in step `stamp`.
    slot: u32,
}

/// Per-step memo for one of the four pair shapes a merge step touches
/// (`(l, a)`, `(b, r)`, `(l, x)`, `(x, r)`), indexed by the neighbour token:
/// the pair id and the count delta accumulated during the step. Keeps the
/// per-occurrence work in cache; pairs are updated once per step.
#[derive(Default)]
struct Memo {
    stamp: Vec<u32>,
    pid: Vec<u32>,
    delta: Vec<i64>,
    /// Gain memos: slot of the pair in the step's gain buckets.
    slot: Vec<u32>,
    /// Neighbour tokens touched in this step.
    keys: Vec<u32>,
}

impl Memo {
    /// Index of `key`, computing the pair id with `f` on first use in `step`.
    #[inline]
    fn touch(&mut self, key: u32, step: u32, f: impl FnOnce() -> (u32, u32)) -> usize {
        let k = key as usize;
        if k >= self.stamp.len() {
            let n = (k + 1).next_power_of_two();
            self.stamp.resize(n, 0);
            self.pid.resize(n, NONE);
            self.delta.resize(n, 0);
            self.slot.resize(n, 0);
        }
        if self.stamp[k] != step {
            self.stamp[k] = step;
            let (pid, slot) = f();
            self.pid[k] = pid;
            self.slot[k] = slot;
            self.delta[k] = 0;
            self.keys.push(key);
        }
        k
    }

    /// Adds the step's deltas to the pair counts and resets the key list.
    fn flush(&mut self, pairs: &mut [Pair]) {
        for &k in &self.keys {
            let pid = self.pid[k as usize];
            if pid != NONE {
                pairs[pid as usize].count += self.delta[k as usize];
            }
        }
        self.keys.clear();
    }
}

/// How many occurrences ahead the merge loop prefetches arena cells: the
/// occurrences of late merges are far apart, so each visit is a cache miss.
const PREFETCH: usize = 16;

/// Hints the CPU to load `v[i]` into cache (no effect on other targets).
#[inline(always)]
fn prefetch(v: &[u32], i: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it never faults or reads into the
    // program, whatever the address (which here is in bounds anyway).
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(v.as_ptr().wrapping_add(i).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (v, i);
}

#[inline]
fn key(a: u32, b: u32) -> u64 {
    (u64::from(a) << 32) | u64::from(b)
}

struct State {
    arena: Arena,
    vocab: Vocab,
    pairs: Vec<Pair>,
    pair_ids: FxHashMap<u64, u32>,
    heap: BinaryHeap<Entry>,
    seq: u64,
    step: u32,
    memo: [Memo; 4],
    /// Pairs that gained in the current step, by slot.
    gained: Vec<u32>,
    /// `(slot, position)` of every gain in the current step, in arena order.
    gains: Vec<(u32, u32)>,
    /// Scratch for bucketing `gains` by slot.
    bucket_pos: Vec<u32>,
    bucket_start: Vec<u32>,
    total_occ: usize,
    alive: usize,
    max_len: usize,
}

fn new_pair(pairs: &mut Vec<Pair>, ids: &mut FxHashMap<u64, u32>, a: u32, b: u32) -> u32 {
    let pid = pairs.len() as u32;
    pairs.push(Pair {
        a,
        b,
        count: 0,
        occ: Vec::new(),
        stamp: 0,
        slot: 0,
    });
    ids.insert(key(a, b), pid);
    pid
}

impl State {
    /// HF's `count_pairs` plus the initial heap, with exact-capacity
    /// occurrence lists (sorted by position).
    fn count_initial_pairs(&mut self) {
        let tok = &self.arena.tok;
        let v0 = self.vocab.size();
        let dense = v0 <= 2048;
        let mut table: Vec<u32> = if dense {
            vec![NONE; v0 * v0]
        } else {
            Vec::new()
        };
        let mut nocc: Vec<usize> = Vec::new();
        for w in 0..self.arena.word_start.len() {
            let (s, e) = (self.arena.word_start[w], self.arena.word_end(w));
            let wc = self.arena.word_count[w] as i64;
            for p in s..e - 1 {
                let (a, b) = (tok[p as usize], tok[p as usize + 1]);
                let pid = if dense {
                    let slot = &mut table[a as usize * v0 + b as usize];
                    if *slot == NONE {
                        *slot = new_pair(&mut self.pairs, &mut self.pair_ids, a, b);
                    }
                    *slot
                } else {
                    match self.pair_ids.get(&key(a, b)) {
                        Some(&pid) => pid,
                        None => new_pair(&mut self.pairs, &mut self.pair_ids, a, b),
                    }
                };
                if pid as usize >= nocc.len() {
                    nocc.resize(pid as usize + 1, 0);
                }
                nocc[pid as usize] += 1;
                self.pairs[pid as usize].count += wc;
            }
        }
        for (pair, &n) in self.pairs.iter_mut().zip(&nocc) {
            pair.occ.reserve_exact(n);
        }
        for w in 0..self.arena.word_start.len() {
            let (s, e) = (self.arena.word_start[w], self.arena.word_end(w));
            for p in s..e - 1 {
                let (a, b) = (tok[p as usize], tok[p as usize + 1]);
                let pid = if dense {
                    table[a as usize * v0 + b as usize]
                } else {
                    self.pair_ids[&key(a, b)]
                };
                self.pairs[pid as usize].occ.push(p);
            }
            self.alive += (e - s) as usize;
        }
        self.total_occ = nocc.iter().sum();
        for (pid, pair) in self.pairs.iter().enumerate() {
            if pair.count > 0 {
                self.seq += 1;
                self.heap.push(Entry {
                    count: pair.count as u64,
                    a: pair.a,
                    b: pair.b,
                    seq: self.seq,
                    pid: pid as u32,
                    words: WordSet::All,
                });
            }
        }
    }

    // Long by design: the incremental pair-count update of one merge is a single hot loop;
    // splitting it would move state across calls in the trainer's innermost path.
    /// Merges pair `pid` into token `x` in the words of `set` (HF's parallel
    /// `Word::merge` over `top.pos`), applying the count deltas and pushing a
    /// heap entry, with the words where it gained, for every pair that gained.
    fn merge_pair(&mut self, pid: u32, set: &WordSet, x: u32) {
        self.step += 1;
        let step = self.step;
        let (a, b) = (self.pairs[pid as usize].a, self.pairs[pid as usize].b);
        let la = self.vocab.len[a as usize] as u32;
        let lx = self.vocab.len[x as usize];
        let max_len = self.max_len;
        let mut occ = std::mem::take(&mut self.pairs[pid as usize].occ);
        self.total_occ -= occ.len();
        occ.sort_unstable();
        let mut keep: Vec<u32> = Vec::new();

        let State {
            arena,
            vocab,
            pairs,
            pair_ids,
            memo,
            gained,
            gains,
            alive,
            ..
        } = self;
        let [memo_la, memo_br, memo_lx, memo_xr] = memo;
        // Slot of a gaining pair in this step (one per pair even when both
        // the left and the right shape produce it, e.g. `(x, x)`).
        let mut gain_slot =
            |pairs: &mut Vec<Pair>, ids: &mut FxHashMap<u64, u32>, l: u32, r: u32| {
                let pid = match ids.get(&key(l, r)) {
                    Some(&id) => id,
                    None => new_pair(pairs, ids, l, r),
                };
                let pair = &mut pairs[pid as usize];
                if pair.stamp != step {
                    pair.stamp = step;
                    pair.slot = gained.len() as u32;
                    gained.push(pid);
                }
                (pid, pair.slot)
            };
        let (mut w, mut wend) = (0usize, 0u32);
        let mut cursor = WordCursor::new(match set {
            WordSet::List(bytes) => bytes,
            WordSet::All => &[],
        });
        for (i, &p) in occ.iter().enumerate() {
            if let Some(&ahead) = occ.get(i + PREFETCH) {
                prefetch(&arena.tok, ahead as usize);
            }
            if p >= wend {
                w = arena.word_of(p);
                wend = arena.word_end(w);
            }
            let tok = &mut arena.tok;
            let valid = tok[p as usize] == a && tok[(p + la) as usize] == b;
            let in_set = match set {
                WordSet::All => true,
                WordSet::List(_) => cursor.contains(w as u32),
            };
            if !in_set {
                if valid {
                    keep.push(p);
                }
                continue;
            }
            if !valid {
                continue;
            }
            let wc = arena.word_count[w] as i64;
            let q = p + la;
            let r = q + vocab.len[b as usize] as u32;
            let left = match tok[p as usize - 1] {
                SEP => None,
                v if v & DEAD != 0 => Some(p - 1 - (v & !DEAD)),
                _ => Some(p - 1),
            };
            let right = (tok[r as usize] != SEP).then_some(r);
            tok[p as usize] = x;
            tok[q as usize] = DEAD | (q - p);
            tok[r as usize - 1] = DEAD | (r - 1 - p);
            *alive -= 1;

            if let Some(ls) = left {
                let l = tok[ls as usize];
                let k = memo_la.touch(l, step, || {
                    (pair_ids.get(&key(l, a)).copied().unwrap_or(NONE), 0)
                });
                memo_la.delta[k] -= wc;
                if vocab.len[l as usize] + lx < max_len {
                    let k = memo_lx.touch(l, step, || gain_slot(pairs, pair_ids, l, x));
                    memo_lx.delta[k] += wc;
                    gains.push((memo_lx.slot[k], ls));
                }
            }
            if let Some(rs) = right {
                let rt = tok[rs as usize];
                let k = memo_br.touch(rt, step, || {
                    (pair_ids.get(&key(b, rt)).copied().unwrap_or(NONE), 0)
                });
                memo_br.delta[k] -= wc;
                if vocab.len[rt as usize] + lx < max_len {
                    let k = memo_xr.touch(rt, step, || gain_slot(pairs, pair_ids, x, rt));
                    memo_xr.delta[k] += wc;
                    gains.push((memo_xr.slot[k], p));
                }
            }
        }
        for m in [memo_la, memo_br, memo_lx, memo_xr] {
            m.flush(pairs);
        }
        self.total_occ += keep.len();
        self.pairs[pid as usize].occ = keep;
        self.push_gains();
        if self.total_occ > 3 * self.alive + (1 << 22) {
            self.compact();
        }
    }

    /// Appends the step's gains to the occurrence lists (bucketed by pair,
    /// arena order kept) and pushes one heap entry per gaining pair with a
    /// positive count, carrying the words where it gained (HF drains
    /// `where_to_update` this way).
    fn push_gains(&mut self) {
        let n = self.gained.len();
        let starts = &mut self.bucket_start;
        starts.clear();
        starts.resize(n + 1, 0);
        for &(slot, _) in &self.gains {
            starts[slot as usize + 1] += 1;
        }
        for i in 0..n {
            starts[i + 1] += starts[i];
        }
        let pos = &mut self.bucket_pos;
        pos.clear();
        pos.resize(self.gains.len(), 0);
        let mut fill: Vec<u32> = starts[..n].to_vec();
        for &(slot, p) in &self.gains {
            pos[fill[slot as usize] as usize] = p;
            fill[slot as usize] += 1;
        }
        self.gains.clear();
        self.total_occ += pos.len();
        let nwords = self.arena.word_start.len();
        for (i, &pid) in self.gained.iter().enumerate() {
            let list = &pos[starts[i] as usize..starts[i + 1] as usize];
            let pair = &mut self.pairs[pid as usize];
            pair.occ.extend_from_slice(list);
            if pair.count <= 0 {
                continue;
            }
            let mut words: Vec<u32> = Vec::new();
            let mut wend = 0u32;
            for &p in list {
                if p >= wend {
                    let w = self.arena.word_of(p);
                    wend = self.arena.word_end(w);
                    words.push(w as u32);
                }
            }
            let words = if words.len() == nwords {
                WordSet::All
            } else {
                WordSet::List(WordSet::encode(&words))
            };
            self.seq += 1;
            self.heap.push(Entry {
                count: pair.count as u64,
                a: pair.a,
                b: pair.b,
                seq: self.seq,
                pid,
                words,
            });
        }
        self.gained.clear();
    }

    /// Drops stale occurrences from every list (amortised O(1) per merge).
    fn compact(&mut self) {
        let tok = &self.arena.tok;
        let len = &self.vocab.len;
        let mut total = 0;
        for pair in &mut self.pairs {
            let la = len[pair.a as usize] as u32;
            let (a, b) = (pair.a, pair.b);
            for &p in pair.occ.iter().take(PREFETCH) {
                prefetch(tok, p as usize);
            }
            let mut i = 0;
            let occ = &pair.occ;
            let mut kept = Vec::with_capacity(occ.len() / 2);
            while i < occ.len() {
                if let Some(&ahead) = occ.get(i + PREFETCH) {
                    prefetch(tok, ahead as usize);
                }
                let p = occ[i];
                if tok[p as usize] == a && tok[(p + la) as usize] == b {
                    kept.push(p);
                }
                i += 1;
            }
            kept.shrink_to_fit();
            pair.occ = kept;
            total += pair.occ.len();
        }
        self.total_occ = total;
    }

    /// Corpus symbols left, weighted by word counts (single-character words
    /// are outside the arena and counted by the caller).
    fn weighted_symbols(&self) -> u64 {
        let mut total = 0u64;
        for w in 0..self.arena.word_start.len() {
            let (s, e) = (
                self.arena.word_start[w] as usize,
                self.arena.word_end(w) as usize,
            );
            let live = self.arena.tok[s..e]
                .iter()
                .filter(|&&t| t & DEAD == 0)
                .count() as u64;
            total += live * self.arena.word_count[w];
        }
        total
    }
}

/// Word counts given to [`train`]: owned ones are freed once the arena is built.
pub(super) enum Input<'a> {
    Borrowed(&'a WordCounts),
    Owned(WordCounts),
}

pub(super) fn train(input: Input<'_>, config: &TrainerConfig) -> Result<TrainedBpe, TrainError> {
    let mut vocab = Vocab::default();
    for s in &config.special_tokens {
        vocab.get_or_insert(s);
    }
    let words = match &input {
        Input::Borrowed(w) => w,
        Input::Owned(w) => w,
    };
    let (unique_words, corpus_chars) = (words.len(), words.total_chars());
    let sorted = words.sorted();
    let arena = arena::build(&sorted, &mut vocab)?;
    let single_chars: u64 = sorted
        .iter()
        .filter(|(w, _)| w.chars().nth(1).is_none())
        .map(|(_, c)| c)
        .sum();
    drop(sorted);
    drop(input);

    let mut st = State {
        arena,
        vocab,
        pairs: Vec::new(),
        pair_ids: FxHashMap::default(),
        heap: BinaryHeap::new(),
        seq: 0,
        step: 0,
        memo: Default::default(),
        gained: Vec::new(),
        gains: Vec::new(),
        bucket_pos: Vec::new(),
        bucket_start: Vec::new(),
        total_occ: 0,
        alive: 0,
        max_len: config.max_token_length.unwrap_or(usize::MAX),
    };
    st.count_initial_pairs();

    let bar = crate::progress::Bar::new(
        config.vocab_size.saturating_sub(st.vocab.size()) as u64,
        "[{elapsed_precise}] merges {wide_bar} {pos}/{len} ({per_sec})",
        config.show_progress,
    );

    let mut merges: Vec<(u32, u32, u32)> = Vec::new();
    loop {
        if st.vocab.size() >= config.vocab_size {
            break;
        }
        let Some(mut top) = st.heap.pop() else {
            break;
        };
        let current = st.pairs[top.pid as usize].count as u64;
        if top.count != current {
            top.count = current;
            st.seq += 1;
            top.seq = st.seq;
            st.heap.push(top);
            continue;
        }
        if top.count < 1 || config.min_frequency > top.count {
            break;
        }
        let new_token = format!(
            "{}{}",
            st.vocab.words[top.a as usize], st.vocab.words[top.b as usize]
        );
        let before = st.vocab.size();
        let x = st.vocab.get_or_insert(&new_token);
        merges.push((top.a, top.b, x));
        st.merge_pair(top.pid, &top.words, x);
        if st.vocab.size() > before {
            bar.inc(1);
        }
    }
    bar.finish_and_clear();

    // HF stores merges as a map pair -> (rank, id): the last rank of a pair wins.
    let mut last: FxHashMap<(u32, u32), usize> = FxHashMap::default();
    for (i, &(a, b, _)) in merges.iter().enumerate() {
        last.insert((a, b), i);
    }
    let words_of = |id: u32| st.vocab.words[id as usize].clone();
    let final_merges = merges
        .iter()
        .enumerate()
        .filter(|(i, (a, b, _))| last.get(&(*a, *b)) == Some(i))
        .map(|(_, &(a, b, _))| (words_of(a), words_of(b)))
        .collect();
    let stats = TrainStats {
        unique_words,
        corpus_chars,
        merge_steps: merges.len(),
        corpus_symbols: st.weighted_symbols() + single_chars,
    };
    Ok(TrainedBpe {
        vocab: st.vocab.words,
        merges: final_merges,
        special_tokens: config.special_tokens.clone(),
        stats,
    })
}
