//! Flow rules compiled into programs over the typed tests of [`crate::flowtest`].
//!
//! Every flow record meets ten to twenty of the pack's flow rules, and walking a rule's condition
//! the general way (the selection by its index, each item's field and plan-wide number through
//! three levels of per-item tables, a result memo stamped per record, the item's typed test
//! looked up again) was a third of a flow scan's instructions, for tests that are a compare or
//! two each. A rule whose items all have a typed test is compiled, once per plan, into a
//! [`FlowProg`]: the same condition tree with each selection as groups of numbers of the plan's
//! distinct typed tests ([`FlowTests`]). A record's test results live in two 128-bit words
//! (tested, held) that start at zero for each record, so a test that several rules share is run
//! once per record and nothing is stamped or looked up to find it.
//!
//! A program answers exactly as the general walk does (same tree, same tests, same order of the
//! groups and items, so the same short-circuits); rules with an item a typed test cannot express,
//! and tests past the 128th, stay with the general walk.

use trailhound_model::FlowRecord;
use trailhound_rules::condition::Cond;

use crate::flowtest::FlowTest;
use crate::plan::DetectionRule;

/// The most distinct typed tests the programs of one plan use (the bits of [`FlowBits`]).
pub const MAX_TESTS: usize = 128;

/// A flow rule's condition over numbered typed tests.
#[derive(Debug, Clone)]
pub enum FlowProg {
    /// A selection: any of its groups in which every test holds.
    Sel(Box<[Box<[u8]>]>),
    /// All must hold.
    And(Box<[FlowProg]>),
    /// One must hold.
    Or(Box<[FlowProg]>),
    /// Negation.
    Not(Box<FlowProg>),
}

/// The distinct typed tests the programs of a plan use, numbered in order of first use.
#[derive(Debug, Clone, Default)]
pub struct FlowTests {
    tests: Vec<FlowTest>,
    /// Per plan-wide item number, its test's number here (if it has one yet).
    by_item: Vec<Option<u8>>,
}

/// The results of one record's tests: bit `i` of `tested` says test `i` ran, bit `i` of `held`
/// what it answered.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlowBits {
    tested: u128,
    held: u128,
}

impl FlowTests {
    /// An empty numbering for a plan of `items` distinct items.
    pub fn new(items: usize) -> Self {
        FlowTests {
            tests: Vec::new(),
            by_item: vec![None; items],
        }
    }

    /// Number of tests.
    pub fn len(&self) -> usize {
        self.tests.len()
    }

    /// True when no program uses a test.
    pub fn is_empty(&self) -> bool {
        self.tests.is_empty()
    }

    /// The number of item `id`'s typed test (`typed[id]`), numbering it if it is new; `None`
    /// when the item has no typed test or the numbers are used up.
    fn number(&mut self, id: u32, typed: &[Option<FlowTest>]) -> Option<u8> {
        let id = id as usize;
        if let Some(n) = *self.by_item.get(id)? {
            return Some(n);
        }
        let t = typed.get(id)?.as_ref()?;
        if self.tests.len() >= MAX_TESTS {
            return None;
        }
        let n = self.tests.len() as u8;
        self.tests.push(t.clone());
        self.by_item[id] = Some(n);
        Some(n)
    }

    /// Test `i` on record `r`, through the record's results.
    #[inline]
    fn holds(&self, i: u8, r: &FlowRecord<'_>, bits: &mut FlowBits) -> bool {
        let bit = 1u128 << i;
        if bits.tested & bit != 0 {
            return bits.held & bit != 0;
        }
        let v = self.tests.get(usize::from(i)).is_some_and(|t| t.eval(r));
        bits.tested |= bit;
        if v {
            bits.held |= bit;
        }
        v
    }
}

impl FlowProg {
    /// `r`'s condition as a program, numbering its tests in `tests`; `None` when an item has no
    /// typed test (`typed`, by plan-wide item number) or the tests would pass [`MAX_TESTS`]. A
    /// rule that does not compile numbers no test.
    pub fn compile(
        r: &DetectionRule,
        typed: &[Option<FlowTest>],
        tests: &mut FlowTests,
    ) -> Option<FlowProg> {
        // Numbering is undone if the rule turns out not to compile.
        let saved = (tests.tests.len(), tests.by_item.clone());
        let prog = Self::cond(&r.det.condition, r, typed, tests);
        if prog.is_none() {
            tests.tests.truncate(saved.0);
            tests.by_item = saved.1;
        }
        prog
    }

    fn cond(
        c: &Cond,
        r: &DetectionRule,
        typed: &[Option<FlowTest>],
        tests: &mut FlowTests,
    ) -> Option<FlowProg> {
        let all = |v: &[Cond], tests: &mut FlowTests| {
            v.iter()
                .map(|c| Self::cond(c, r, typed, tests))
                .collect::<Option<Box<[FlowProg]>>>()
        };
        Some(match c {
            Cond::Sel(i) => {
                // A selection the rule lacks holds for no record, as an empty one.
                let Some(s) = r.det.selections.get(*i) else {
                    return Some(FlowProg::Sel(Box::new([])));
                };
                let ids = r.item_ids.get(*i)?;
                let groups = s
                    .groups
                    .iter()
                    .enumerate()
                    .map(|(gi, g)| {
                        let ids = ids.get(gi)?;
                        (0..g.len())
                            .map(|ii| tests.number(*ids.get(ii)?, typed))
                            .collect::<Option<Box<[u8]>>>()
                    })
                    .collect::<Option<Box<[Box<[u8]>]>>>()?;
                FlowProg::Sel(groups)
            }
            Cond::And(v) => FlowProg::And(all(v, tests)?),
            Cond::Or(v) => FlowProg::Or(all(v, tests)?),
            Cond::Not(c) => FlowProg::Not(Box::new(Self::cond(c, r, typed, tests)?)),
        })
    }

    /// Whether the condition holds for `r` (`bits`: the record's test results so far).
    pub fn eval(&self, tests: &FlowTests, r: &FlowRecord<'_>, bits: &mut FlowBits) -> bool {
        match self {
            FlowProg::Sel(groups) => groups
                .iter()
                .any(|g| g.iter().all(|&t| tests.holds(t, r, bits))),
            FlowProg::And(v) => v.iter().all(|p| p.eval(tests, r, bits)),
            FlowProg::Or(v) => v.iter().any(|p| p.eval(tests, r, bits)),
            FlowProg::Not(p) => !p.eval(tests, r, bits),
        }
    }
}

impl FlowBits {
    /// No test run yet (a new record).
    pub fn clear(&mut self) {
        *self = FlowBits::default();
    }
}
