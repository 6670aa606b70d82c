//! Reverse complement over the IUPAC alphabet, case preserved: the one strand flip of the
//! workspace (embedding and prediction strand averaging, variant scoring).
//!
//! ```
//! assert_eq!(dna_bpe::seq::reverse_complement("ACGTNryk"), "mryNACGT");
//! ```

/// The complement of one IUPAC nucleotide code (`N` and unknown bytes map to themselves).
pub fn complement(b: u8) -> u8 {
    let c = match b.to_ascii_uppercase() {
        b'A' => b'T',
        b'T' | b'U' => b'A',
        b'C' => b'G',
        b'G' => b'C',
        b'R' => b'Y',
        b'Y' => b'R',
        b'K' => b'M',
        b'M' => b'K',
        b'B' => b'V',
        b'V' => b'B',
        b'D' => b'H',
        b'H' => b'D',
        other => other, // S, W, N and anything else
    };
    if b.is_ascii_lowercase() {
        c.to_ascii_lowercase()
    } else {
        c
    }
}

/// The reverse complement of `seq`.
pub fn reverse_complement(seq: &str) -> String {
    seq.bytes().rev().map(|b| complement(b) as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iupac_and_case() {
        assert_eq!(reverse_complement("ACGTacgtN"), "NacgtACGT");
        assert_eq!(reverse_complement("RYKMBVDHSW"), "WSDHBVKMRY");
        for s in ["ACGTTGCANNRYacgt", "GATTACA"] {
            assert_eq!(reverse_complement(&reverse_complement(s)), s);
        }
    }
}
