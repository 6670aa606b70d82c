//! FASTA reader: formats, compression by magic bytes, typed errors, no panics.

use std::io::Write;
use std::path::{Path, PathBuf};

use dna_bpe::fasta::{self, FastaError, Reader, Record, acgt_segments, collect_files};
use proptest::prelude::*;

fn read_all(bytes: &[u8]) -> Result<Vec<Record>, FastaError> {
    Reader::new(std::io::Cursor::new(bytes.to_vec()), "mem.fa")?.collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn xz(bytes: &[u8]) -> Vec<u8> {
    let mut enc = liblzma::write::XzEncoder::new(Vec::new(), 6);
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

const SAMPLE: &[u8] =
    b">seq1 first record\r\nACGTNNNNacgt\r\n\r\nTTTT\r\n>seq2\n\nGG CC\n>seq3 empty\n";

fn check_sample(records: &[Record]) {
    assert_eq!(records.len(), 3);
    assert_eq!(records[0].id, "seq1");
    assert_eq!(records[0].description, "first record");
    assert_eq!(records[0].seq, b"ACGTNNNNacgtTTTT");
    assert_eq!(records[1].id, "seq2");
    assert_eq!(records[1].description, "");
    assert_eq!(records[1].seq, b"GGCC");
    assert_eq!(records[2].id, "seq3");
    assert!(records[2].seq.is_empty());
}

#[test]
fn plain_crlf_blank_lines_case_and_n_preserved() {
    check_sample(&read_all(SAMPLE).unwrap());
}

#[test]
fn gzip_and_xz_detected_by_magic_not_name() {
    check_sample(&read_all(&gzip(SAMPLE)).unwrap());
    check_sample(&read_all(&xz(SAMPLE)).unwrap());
    // Multi-member gzip (bgzip style).
    let mut two = gzip(&SAMPLE[..38]);
    two.extend(gzip(&SAMPLE[38..]));
    check_sample(&read_all(&two).unwrap());
}

#[test]
fn zstd_and_bzip2_detected_by_magic() {
    check_sample(&read_all(&zstd::encode_all(SAMPLE, 3).unwrap()).unwrap());
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    enc.write_all(SAMPLE).unwrap();
    check_sample(&read_all(&enc.finish().unwrap()).unwrap());
    // A truncated zstd stream is a read error, not a short record list.
    let z = zstd::encode_all(SAMPLE, 3).unwrap();
    assert!(read_all(&z[..z.len() - 4]).is_err());
}

#[test]
fn real_files_from_disk() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/trainer");
    let phix: Vec<Record> = Reader::from_path(dir.join("phage_phix174.fna"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(phix.len(), 1);
    assert_eq!(phix[0].id, "NC_001422.1");
    assert_eq!(phix[0].seq.len(), 5386);
    assert!(phix[0].seq.starts_with(b"GAGTTTTATCGCTTCCATGAC"));
    let lambda: Vec<Record> = Reader::from_path(dir.join("phage_lambda.fa.gz"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(lambda[0].seq.len(), 48502);
    assert!(lambda[0].seq.starts_with(b"GGGCGGCGACCTCGCGGGTTTTCGC"));
}

#[test]
fn sequence_before_header_names_file_and_line() {
    let err = read_all(b"\nACGT\n>x\nAC\n").unwrap_err();
    match &err {
        FastaError::SequenceBeforeHeader { path, line, offset } => {
            assert_eq!(path, &PathBuf::from("mem.fa"));
            assert_eq!(*line, 2);
            assert_eq!(*offset, 1);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().starts_with("mem.fa:2:"), "{err}");
}

#[test]
fn empty_header_and_bad_bytes() {
    assert!(matches!(
        read_all(b">a\nAC\n>  \nAC\n").unwrap_err(),
        FastaError::EmptyHeader { line: 3, .. }
    ));
    match read_all(b">a\nACGT\nAC\x00GT\n").unwrap_err() {
        FastaError::InvalidByte {
            line,
            column,
            offset,
            byte,
            ..
        } => {
            assert_eq!((line, column, offset, byte), (3, 3, 10, 0));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(
        read_all(b">a\nAC\xc3\xa9GT\n").unwrap_err(),
        FastaError::InvalidByte { byte: 0xc3, .. }
    ));
    assert!(matches!(
        read_all(b">\xff\xfe\nACGT\n").unwrap_err(),
        FastaError::InvalidHeader { line: 1, .. }
    ));
}

#[test]
fn truncated_gzip_is_a_read_error() {
    let mut big = b">chr\n".to_vec();
    for i in 0..20000u32 {
        big.extend_from_slice(if i % 3 == 0 {
            b"ACGTTGCA\n"
        } else {
            b"GGATCCAT\n"
        });
    }
    let gz = gzip(&big);
    let cut = &gz[..gz.len() / 2];
    let err = read_all(cut).unwrap_err();
    assert!(matches!(err, FastaError::Read { .. }), "{err:?}");
    assert!(err.to_string().contains("mem.fa"));
    let x = xz(&big);
    assert!(matches!(
        read_all(&x[..x.len() - 10]).unwrap_err(),
        FastaError::Read { .. }
    ));
}

#[test]
fn missing_file_is_open_error() {
    let err = Reader::from_path("/nonexistent/dir/x.fa").err().unwrap();
    assert!(matches!(err, FastaError::Open { .. }));
    assert!(err.to_string().contains("/nonexistent/dir/x.fa"));
}

#[test]
fn segments() {
    let s = b"NNACGTnnAcGtRYTTTTN";
    let v: Vec<&[u8]> = acgt_segments(s, 1, true).collect();
    assert_eq!(v, vec![&b"ACGT"[..], &b"AcGt"[..], &b"TTTT"[..]]);
    let v: Vec<&[u8]> = acgt_segments(s, 1, false).collect();
    assert_eq!(v, vec![&b"ACGT"[..], &b"A"[..], &b"G"[..], &b"TTTT"[..]]);
    let v: Vec<&[u8]> = acgt_segments(s, 4, false).collect();
    assert_eq!(v, vec![&b"ACGT"[..], &b"TTTT"[..]]);
    assert_eq!(acgt_segments(b"", 0, true).count(), 0);
    assert_eq!(acgt_segments(b"NNNN", 0, true).count(), 0);
}

#[test]
fn collect_files_recursive_sorted_filtered() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("b/sub")).unwrap();
    std::fs::create_dir_all(root.join("a")).unwrap();
    for f in [
        "b/sub/z.fna.xz",
        "b/y.FA.gz",
        "a/x.fasta",
        "a/notes.txt",
        "a/readme.md",
        "c.fa",
    ] {
        std::fs::write(root.join(f), b">x\nA\n").unwrap();
    }
    let explicit = root.join("a/readme.md");
    let files = collect_files(&[root.to_path_buf(), explicit.clone()]).unwrap();
    let rel: Vec<String> = files
        .iter()
        .map(|p| p.strip_prefix(root).unwrap().display().to_string())
        .collect();
    assert_eq!(
        rel,
        [
            "a/readme.md",
            "a/x.fasta",
            "b/sub/z.fna.xz",
            "b/y.FA.gz",
            "c.fa"
        ]
    );
    assert!(matches!(
        collect_files(&[root.join("missing")]).unwrap_err(),
        FastaError::Open { .. }
    ));
    assert!(fasta::is_fasta_name("chr1.fa.gz"));
    assert!(!fasta::is_fasta_name(".fa"));
    assert!(!fasta::is_fasta_name("x.gz"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Arbitrary bytes never panic, and the reader always terminates.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = read_all(&bytes);
        let _ = read_all(&gzip(&bytes));
        let mut gz = gzip(&bytes);
        gz.truncate(gz.len() / 2);
        let _ = read_all(&gz);
    }

    /// FASTA-like random text: whatever parses keeps all sequence letters.
    #[test]
    fn fasta_like_roundtrip(records in prop::collection::vec(("[a-z0-9]{1,8}", "[ACGTNacgtn]{0,50}"), 1..5), width in 1usize..20) {
        let mut text = Vec::new();
        for (id, seq) in &records {
            text.extend_from_slice(format!(">{id} d\n").as_bytes());
            for chunk in seq.as_bytes().chunks(width) {
                text.extend_from_slice(chunk);
                text.extend_from_slice(b"\r\n");
            }
        }
        let parsed = read_all(&text).unwrap();
        prop_assert_eq!(parsed.len(), records.len());
        for (p, (id, seq)) in parsed.iter().zip(&records) {
            prop_assert_eq!(&p.id, id);
            prop_assert_eq!(&p.seq, seq.as_bytes());
        }
    }
}

#[test]
fn indexed_fetch_equals_the_streamed_sequence() {
    use dna_bpe::faidx::{IndexedFasta, write_index};
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/trainer/phage_phix174.fna");
    let dir = tempfile::tempdir().unwrap();
    // Two records with different line widths (real file, then re-wrapped at 37).
    let phix = Reader::from_path(&src).unwrap().next().unwrap().unwrap();
    let wrapped: Vec<String> = phix
        .seq
        .chunks(37)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    let fa = dir.path().join("two.fa");
    let mut text = std::fs::read_to_string(&src).unwrap();
    text.push_str(&format!(">wrapped\n{}\n", wrapped.join("\n")));
    std::fs::write(&fa, text).unwrap();
    assert!(IndexedFasta::open(&fa).unwrap().is_none(), "no .fai yet");
    write_index(&fa).unwrap();
    let mut g = IndexedFasta::open(&fa).unwrap().unwrap();
    let n = phix.seq.len() as u64;
    assert_eq!(g.len(&phix.id), Some(n));
    assert_eq!(g.len("wrapped"), Some(n));
    let mut x = 7u64;
    for _ in 0..200 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        let a = (x >> 33) % n;
        let b = (a + (x >> 13) % 700).min(n);
        let want = &phix.seq[a as usize..b as usize];
        assert_eq!(g.fetch(&phix.id, a, b).unwrap(), want);
        assert_eq!(g.fetch("wrapped", a, b).unwrap(), want);
    }
    assert!(
        g.fetch("chrZ", 0, 1)
            .unwrap_err()
            .to_string()
            .contains("`chrZ` is not in the index")
    );
    assert!(g.fetch("wrapped", n - 1, n + 1).is_err());
    // Ragged lines cannot be indexed.
    let bad = dir.path().join("bad.fa");
    std::fs::write(&bad, ">a\nACGT\nAC\nACGT\n").unwrap();
    let e = write_index(&bad).unwrap_err().to_string();
    assert!(
        e.contains("bad.fa:4") && e.contains("different widths"),
        "{e}"
    );
}
