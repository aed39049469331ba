//! The values of a matched route's `{param}` segments, held inline (no allocation per request).

use std::ops::Deref;

/// Most path parameters a route may have (Proxmox's deepest route has 4).
pub const MAX_PATH_PARAMS: usize = 8;

/// (name, value) pairs of path parameters, in path order; names borrow from the route table,
/// values from the request path.
#[derive(Debug, Clone, Copy)]
pub struct PathParams<'a, 'p> {
    items: [(&'a str, &'p str); MAX_PATH_PARAMS],
    len: usize,
}

impl<'a, 'p> PathParams<'a, 'p> {
    /// No parameters.
    pub fn new() -> Self {
        PathParams {
            items: [("", ""); MAX_PATH_PARAMS],
            len: 0,
        }
    }

    /// From a slice; `None` if it holds more than [`MAX_PATH_PARAMS`] pairs.
    pub fn from_slice(pairs: &[(&'a str, &'p str)]) -> Option<Self> {
        let mut out = PathParams::new();
        pairs.iter().all(|&(k, v)| out.push(k, v)).then_some(out)
    }

    /// Append a pair; false when full.
    pub(crate) fn push(&mut self, name: &'a str, value: &'p str) -> bool {
        match self.items.get_mut(self.len) {
            Some(slot) => {
                *slot = (name, value);
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// The value of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&'p str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

impl Default for PathParams<'_, '_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a, 'p> Deref for PathParams<'a, 'p> {
    type Target = [(&'a str, &'p str)];

    fn deref(&self) -> &Self::Target {
        &self.items[..self.len]
    }
}
