//! A Merkle tree over the log's chain hashes, so that one event can be proved part of a signed
//! checkpoint with a few dozen hashes instead of every event after it.
//!
//! The tree is RFC 6962's (Certificate Transparency): leaf `n` is `SHA-256(0x00 ‖ hash(n))`, where
//! `hash(n)` is the chain hash at position `n` (it commits to the event's content and to every event
//! before it); an inner node is `SHA-256(0x01 ‖ left ‖ right)`, the left subtree holding the largest
//! power of two of leaves smaller than the whole. Audit paths and their check follow RFC 9162 §2.1.3,
//! so any independent implementation of that RFC can check our proofs.

use sha2::{Digest, Sha256};

/// The root of an empty tree (the log before its first event).
pub fn empty_root() -> [u8; 32] {
    Sha256::digest([]).into()
}

/// The leaf hash of one event's chain hash.
pub fn leaf(chain_hash: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(chain_hash);
    h.finalize().into()
}

fn node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Builds the root over leaves given one at a time, in position order, holding one hash per level:
/// a whole log is checked without keeping its hashes in memory.
#[derive(Debug, Default, Clone)]
pub struct RootBuilder {
    /// Roots of complete subtrees, largest first, with their number of leaves (powers of two).
    stack: Vec<(u64, [u8; 32])>,
    size: u64,
}

impl RootBuilder {
    /// Add the next event's chain hash.
    pub fn push(&mut self, chain_hash: &[u8; 32]) {
        let mut current = (1u64, leaf(chain_hash));
        while let Some(&(size, left)) = self.stack.last()
            && size == current.0
        {
            self.stack.pop();
            current = (size * 2, node(&left, &current.1));
        }
        self.stack.push(current);
        self.size += 1;
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root over the leaves pushed so far. The incomplete subtrees on the right are joined right
    /// to left, which is exactly RFC 6962's split at the largest power of two.
    pub fn root(&self) -> [u8; 32] {
        let mut subtrees = self.stack.iter().rev();
        let Some(&(_, mut right)) = subtrees.next() else { return empty_root() };
        for (_, left) in subtrees {
            right = node(left, &right);
        }
        right
    }
}

/// The root over these leaves (already leaf-hashed).
fn root_of(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

/// The largest power of two smaller than `n` (n ≥ 2).
fn split(n: usize) -> usize {
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The audit path of leaf `index` (0-based) in the tree over `chain_hashes`, from the leaf up.
pub fn audit_path(chain_hashes: &[[u8; 32]], index: usize) -> Vec<[u8; 32]> {
    let leaves: Vec<[u8; 32]> = chain_hashes.iter().map(leaf).collect();
    let mut path = Vec::new();
    path_into(&leaves, index, &mut path);
    path
}

fn path_into(leaves: &[[u8; 32]], index: usize, path: &mut Vec<[u8; 32]>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split(leaves.len());
    if index < k {
        path_into(&leaves[..k], index, path);
        path.push(root_of(&leaves[k..]));
    } else {
        path_into(&leaves[k..], index - k, path);
        path.push(root_of(&leaves[..k]));
    }
}

/// Whether `chain_hash`, as leaf `index` (0-based) of a tree of `size` leaves, leads through `path` to
/// `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    chain_hash: &[u8; 32],
    path: &[[u8; 32]],
    root: &[u8; 32],
) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = leaf(chain_hash);
    for p in path {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hashes(n: usize) -> Vec<[u8; 32]> {
        (0..n).map(|i| Sha256::digest(i.to_be_bytes()).into()).collect()
    }

    fn built(chain: &[[u8; 32]]) -> [u8; 32] {
        let mut b = RootBuilder::default();
        chain.iter().for_each(|h| b.push(h));
        b.root()
    }

    #[test]
    fn small_trees_have_the_rfc_6962_shape() {
        let h = hashes(3);
        let (a, b, c) = (leaf(&h[0]), leaf(&h[1]), leaf(&h[2]));
        assert_eq!(built(&[]), empty_root());
        assert_eq!(built(&h[..1]), a);
        assert_eq!(built(&h[..2]), node(&a, &b));
        assert_eq!(built(&h), node(&node(&a, &b), &c));
    }

    #[test]
    fn a_proof_does_not_hold_for_another_event_index_or_size() {
        let h = hashes(11);
        let path = audit_path(&h, 6);
        let root = built(&h);
        assert!(verify_inclusion(6, 11, &h[6], &path, &root));
        assert!(!verify_inclusion(6, 11, &h[5], &path, &root));
        assert!(!verify_inclusion(5, 11, &h[6], &path, &root));
        // A tree of 12 leaves has another root: the size is bound by the signed root, not the path.
        assert!(!verify_inclusion(6, 12, &h[6], &path, &built(&hashes(12))));
        assert!(!verify_inclusion(11, 11, &h[6], &path, &root));
    }

    proptest! {
        #[test]
        fn the_streamed_root_is_the_recursive_one(n in 0usize..300) {
            let h = hashes(n);
            let leaves: Vec<_> = h.iter().map(leaf).collect();
            prop_assert_eq!(built(&h), root_of(&leaves));
        }

        #[test]
        fn every_leaf_has_a_path_to_the_root(n in 1usize..200, pick in 0usize..200) {
            let h = hashes(n);
            let index = pick % n;
            let path = audit_path(&h, index);
            prop_assert!(path.len() <= 64);
            prop_assert!(verify_inclusion(index as u64, n as u64, &h[index], &path, &built(&h)));
        }
    }
}
