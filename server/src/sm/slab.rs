//! Values at stable `u32` positions, with removed positions reused.
//!
//! The keyspace keeps its objects here so that its hash index and deadline index can
//! refer to an object by a 4-byte position instead of a copy of its name. Positions are
//! local bookkeeping: they depend on the order of inserts and removals (a replica that
//! decoded a snapshot has different ones), so nothing observable may depend on them.

/// A vector of optional values plus a stack of the free positions in it.
#[derive(Debug, Clone)]
pub(crate) struct Slab<T> {
    items: Vec<Option<T>>,
    /// Positions of `None` items, reused last-freed first.
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    /// Stores `value` and returns its position.
    pub fn insert(&mut self, value: T) -> u32 {
        self.len += 1;
        if let Some(pos) = self.free.pop() {
            if let Some(cell) = self.items.get_mut(pos as usize) {
                *cell = Some(value);
                return pos;
            }
        }
        // 2^32 objects would take hundreds of GB; memory runs out long before this can
        // fail, as it would for `Vec`'s own capacity overflow.
        let Ok(pos) = u32::try_from(self.items.len()) else {
            panic!("keyspace slab full: 2^32 objects");
        };
        self.items.push(Some(value));
        pos
    }

    /// Takes the value at `pos` out, freeing the position.
    pub fn remove(&mut self, pos: u32) -> Option<T> {
        let value = self.items.get_mut(pos as usize)?.take()?;
        self.free.push(pos);
        self.len -= 1;
        Some(value)
    }

    /// The value at `pos`, if one is stored there.
    pub fn get(&self, pos: u32) -> Option<&T> {
        self.items.get(pos as usize)?.as_ref()
    }

    /// Every stored value with its position, in position order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        // Positions never exceed u32::MAX (see `insert`), so the zip covers every item.
        (0u32..)
            .zip(self.items.iter())
            .filter_map(|(pos, item)| item.as_ref().map(|v| (pos, v)))
    }

    /// Number of stored values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Makes room for `additional` more values without reallocating.
    pub fn reserve(&mut self, additional: usize) {
        self.items.reserve(additional.saturating_sub(self.free.len()));
    }
}
