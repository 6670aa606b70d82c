//! One tokenization pass over the FASTA inputs, writing shards and the manifest.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::CorpusConfig;
use super::manifest::{ContigEntry, FORMAT_VERSION, FileEntry, Manifest, Unit};
use super::source::{self, Tokenizer};
use crate::error::{Result, TrainError, io_err};

/// Size and modification time of a file (seconds since the epoch).
fn stat(path: &Path) -> Result<(u64, u64)> {
    let meta = std::fs::metadata(path).map_err(io_err(path))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    Ok((meta.len(), mtime))
}

/// Hex digest identifying a corpus: inputs (path, size, mtime), tokenizer and
/// cutting parameters. Any change gives a new cache directory.
pub(super) fn cache_key(
    cfg: &CorpusConfig,
    files: &[PathBuf],
    tokenizer_sha: &str,
) -> Result<String> {
    let mut h = Sha256::new();
    h.update(format!(
        "v{FORMAT_VERSION}\n{tokenizer_sha}\n{}\n{}\n{}\n",
        cfg.chunk_bp, cfg.eval_fraction, cfg.min_segment_bp
    ));
    for f in files {
        let (bytes, mtime) = stat(f)?;
        h.update(format!("{}\t{bytes}\t{mtime}\n", f.display()));
    }
    Ok(hex(&h.finalize())[..16].to_string())
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Deterministic value in [0, 1) deciding whether a chunk is held out.
pub(super) fn split_hash(file: &Path, contig: &str, chunk: u64) -> f64 {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let d = Sha256::digest(format!("{name}\t{contig}\t{chunk}").as_bytes());
    let v = u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]);
    (v >> 11) as f64 / (1u64 << 53) as f64
}

/// Cuts an upper-cased A/C/G/T segment into chunks of at most `chunk_bp`
/// bases; a short tail (under half a chunk) is merged into the previous chunk.
pub(super) fn chunk_segment(seg: &str, chunk_bp: usize) -> Vec<&str> {
    let mut out = Vec::with_capacity(seg.len() / chunk_bp + 1);
    let mut start = 0;
    while start < seg.len() {
        let rest = seg.len() - start;
        let take = if rest < chunk_bp + chunk_bp / 2 {
            rest
        } else {
            chunk_bp
        };
        out.push(&seg[start..start + take]);
        start += take;
    }
    out
}

struct Pending {
    unit: Unit,
    hash: f64,
}

pub(super) fn build(
    cfg: &CorpusConfig,
    files: &[PathBuf],
    tokenizer: &Tokenizer,
    tokenizer_sha256: &str,
    dir: &Path,
) -> Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-corpus-")
        .tempdir_in(&cfg.cache_dir)
        .map_err(io_err(&cfg.cache_dir))?;
    let total_bytes: u64 = files
        .iter()
        .map(|f| stat(f).map(|s| s.0))
        .sum::<Result<u64>>()?;
    let bar = dna_bpe::progress::Bar::new(
        total_bytes,
        "tokenizing {bar:30} {bytes}/{total_bytes} (compressed) {msg}",
        true,
    );

    let mut file_entries = Vec::with_capacity(files.len());
    let mut contigs: Vec<ContigEntry> = Vec::new();
    let mut pending: Vec<Pending> = Vec::new();
    for (fi, path) in files.iter().enumerate() {
        let (bytes, modified_unix) = stat(path)?;
        let shard = format!("shard-{fi:05}.u16");
        let shard_path = tmp.path().join(&shard);
        let out = std::fs::File::create(&shard_path).map_err(io_err(&shard_path))?;
        let mut out = BufWriter::with_capacity(1 << 20, out);
        let mut entry = FileEntry {
            path: path.clone(),
            bytes,
            modified_unix,
            shard,
            contigs: 0,
            bases: 0,
            tokens: 0,
        };
        source::for_each_record(path, |name, segments| {
            let contig = contigs.len() as u32;
            let mut chunks: Vec<&str> = Vec::new();
            let mut bases = 0u64;
            for seg in segments.iter().filter(|s| s.len() >= cfg.min_segment_bp) {
                bases += seg.len() as u64;
                chunks.extend(chunk_segment(seg, cfg.chunk_bp));
            }
            let encoded: Vec<Result<Vec<u32>>> = chunks
                .par_iter()
                .map(|c| source::encode_plain(tokenizer, c))
                .collect();
            let mut tokens = 0u64;
            for (ci, ids) in encoded.into_iter().enumerate() {
                let ids = ids?;
                let mut buf = Vec::with_capacity(ids.len() * 2);
                for &id in &ids {
                    let id = u16::try_from(id).map_err(|_| {
                        TrainError::Corpus(format!(
                            "token id {id} does not fit in u16 (vocab too large)"
                        ))
                    })?;
                    buf.extend_from_slice(&id.to_le_bytes());
                }
                out.write_all(&buf).map_err(io_err(&shard_path))?;
                pending.push(Pending {
                    unit: Unit {
                        shard: fi as u32,
                        offset: entry.tokens + tokens,
                        len: ids.len() as u32,
                        contig,
                        eval: false,
                    },
                    hash: split_hash(path, name, ci as u64),
                });
                tokens += ids.len() as u64;
            }
            entry.contigs += 1;
            entry.bases += bases;
            entry.tokens += tokens;
            contigs.push(ContigEntry {
                file: fi as u32,
                name: name.to_string(),
                bases,
                tokens,
            });
            bar.set_message(format!(
                "{} contigs, {} tokens",
                contigs.len(),
                entry.tokens
            ));
            Ok(())
        })?;
        out.flush().map_err(io_err(&shard_path))?;
        bar.inc(bytes);
        file_entries.push(entry);
    }
    bar.finish_and_clear();

    let mut units = assign_split(pending, cfg.eval_fraction)?;
    units.shrink_to_fit();
    // Count training-split unigrams straight from the freshly written shards.
    let vocab_size = source::vocab_size(tokenizer);
    let mut counts = vec![0u64; vocab_size as usize];
    let maps: Vec<memmap2::Mmap> = file_entries
        .iter()
        .map(|f| {
            let p = tmp.path().join(&f.shard);
            let file = std::fs::File::open(&p).map_err(io_err(&p))?;
            // SAFETY: the shard was written above and is not modified while mapped.
            unsafe { memmap2::Mmap::map(&file) }.map_err(io_err(&p))
        })
        .collect::<Result<_>>()?;
    let (mut train_tokens, mut eval_tokens) = (0u64, 0u64);
    for u in &units {
        if u.eval {
            eval_tokens += u64::from(u.len);
            continue;
        }
        train_tokens += u64::from(u.len);
        let base = u.offset as usize * 2;
        for b in maps[u.shard as usize][base..base + u.len as usize * 2].chunks_exact(2) {
            let id = u16::from_le_bytes([b[0], b[1]]) as usize;
            if let Some(c) = counts.get_mut(id) {
                *c += 1;
            }
        }
    }
    drop(maps);

    let manifest = Manifest {
        format: FORMAT_VERSION,
        tokenizer_sha256: tokenizer_sha256.to_string(),
        vocab_size,
        chunk_bp: cfg.chunk_bp,
        eval_fraction: cfg.eval_fraction,
        files: file_entries,
        contigs,
        units,
        train_tokens,
        eval_tokens,
        train_unigram_counts: counts,
    };
    crate::atomic::write_json(&tmp.path().join("manifest.json"), &manifest)?;
    let tmp_path = tmp.keep();
    if let Err(e) = std::fs::rename(&tmp_path, dir) {
        // Another process may have finished the same cache first; use theirs.
        let _ = std::fs::remove_dir_all(&tmp_path);
        if !dir.join("manifest.json").is_file() {
            return Err(TrainError::Io {
                path: dir.to_path_buf(),
                source: e,
            });
        }
    }
    Ok(())
}

/// Marks chunks whose hash is below `fraction` as held out, guaranteeing at
/// least one held-out and one training chunk.
fn assign_split(mut pending: Vec<Pending>, fraction: f64) -> Result<Vec<Unit>> {
    pending.retain(|p| p.unit.len > 0);
    if pending.len() < 2 {
        return Err(TrainError::Corpus(format!(
            "need at least 2 chunks of sequence to hold one out for evaluation, found {}",
            pending.len()
        )));
    }
    for p in &mut pending {
        p.unit.eval = p.hash < fraction;
    }
    if !pending.iter().any(|p| p.unit.eval) {
        let i = argmin(&pending, |p| p.hash);
        pending[i].unit.eval = true;
    }
    if pending.iter().all(|p| p.unit.eval) {
        let i = argmin(&pending, |p| -p.hash);
        pending[i].unit.eval = false;
    }
    Ok(pending.into_iter().map(|p| p.unit).collect())
}

fn argmin<T>(items: &[T], key: impl Fn(&T) -> f64) -> usize {
    items
        .iter()
        .enumerate()
        .min_by(|a, b| key(a.1).total_cmp(&key(b.1)))
        .map_or(0, |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_segment_and_merge_short_tail() {
        let seg = "A".repeat(1000);
        let c = chunk_segment(&seg, 300);
        assert_eq!(
            c.iter().map(|c| c.len()).collect::<Vec<_>>(),
            [300, 300, 400]
        );
        let c = chunk_segment(&seg, 600);
        assert_eq!(c.iter().map(|c| c.len()).collect::<Vec<_>>(), [600, 400]);
        let c = chunk_segment(&seg, 700);
        assert_eq!(c.len(), 1, "a 300-base tail is under half of 700: merged");
        let c = chunk_segment(&seg[..200], 600);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn split_hash_is_deterministic_and_spread() {
        let f = Path::new("/x/genome.fa.gz");
        assert_eq!(
            split_hash(f, "chr1", 3),
            split_hash(Path::new("/y/genome.fa.gz"), "chr1", 3)
        );
        let held = (0..10_000)
            .filter(|&i| split_hash(f, "chr1", i) < 0.015)
            .count();
        assert!((100..200).contains(&held), "{held}");
    }
}
