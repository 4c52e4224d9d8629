//! Flow rules compiled into programs over the typed tests of [`crate::flowtest`].
//!
//! Every flow record meets ten to twenty of the pack's flow rules, and walking a rule's condition
//! the general way (the selection by its index, each item's field and plan-wide number through
//! three levels of per-item tables, a result memo stamped per record, the item's typed test
//! looked up again) was a third of a flow scan's instructions, for tests that are a compare or
//! two each. A rule whose items all have a typed test is compiled, once per plan, into a
//! [`FlowProg`]: the same condition tree with each selection's groups as bit masks over the
//! plan's distinct typed tests ([`FlowTests`]), and the mask of every test the rule uses.
//!
//! A record's results live in two 128-bit words (tested, held) that start at zero for each
//! record. A rule first runs those of its tests no earlier rule ran (a loop over the set bits
//! of one mask), then answers from the held bits alone: a selection's group holds when all of
//! its bits are held. Tests are pure, so running all of a rule's tests, not only those the
//! tree's short-circuits reach, changes no answer; and it costs less than asking, at every use
//! of a test, whether it ran yet (a rule's tree walk with a result check per test use was a
//! quarter of a flow scan's instructions; its tests themselves are a few compares each).
//!
//! Rules with an item a typed test cannot express, and tests past the 128th, stay with the
//! general walk.

use trailhound_model::FlowRecord;
use trailhound_rules::condition::Cond;

use crate::flowtest::FlowTest;
use crate::plan::DetectionRule;

/// The most distinct typed tests the programs of one plan use (the bits of [`FlowBits`]).
pub const MAX_TESTS: usize = 128;

/// A flow rule's condition over numbered typed tests: the condition, and the mask of the tests
/// it uses.
#[derive(Debug, Clone)]
pub struct FlowProg {
    form: Form,
    needs: u128,
}

/// A condition over the held bits of a record's tests.
#[derive(Debug, Clone)]
enum Form {
    /// Selections and negated selections joined by `and` (or a lone selection), the shape of
    /// nearly every flow rule, answered without walking a tree: every test of `all` holds, each
    /// of `any` has a group whose tests all hold, and no group of `none` has all its tests hold.
    Flat {
        /// The tests of the selections of one group, merged.
        all: u128,
        /// The groups of each selection with several (or none: it never holds).
        any: Box<[Box<[u128]>]>,
        /// The groups of the negated selections.
        none: Box<[u128]>,
    },
    /// Any other condition, as its tree.
    Tree(Node),
}

/// A condition tree over the held bits of a record's tests.
#[derive(Debug, Clone)]
enum Node {
    /// A selection: any of its groups (each a mask of tests) whose tests all hold.
    Sel(Box<[u128]>),
    /// All must hold.
    And(Box<[Node]>),
    /// One must hold.
    Or(Box<[Node]>),
    /// Negation.
    Not(Box<Node>),
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

    /// Runs the tests of mask `needs` that `bits` has not run yet on record `r`.
    #[inline]
    fn run(&self, needs: u128, r: &FlowRecord<'_>, bits: &mut FlowBits) {
        let mut missing = needs & !bits.tested;
        if missing == 0 {
            return;
        }
        bits.tested |= missing;
        while missing != 0 {
            let i = missing.trailing_zeros();
            missing &= missing - 1;
            if self.tests.get(i as usize).is_some_and(|t| t.eval(r)) {
                bits.held |= 1u128 << i;
            }
        }
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
        let mut needs = 0;
        let node = Self::cond(&r.det.condition, r, typed, tests, &mut needs);
        if node.is_none() {
            tests.tests.truncate(saved.0);
            tests.by_item = saved.1;
        }
        Some(FlowProg {
            form: Form::of(node?),
            needs,
        })
    }

    fn cond(
        c: &Cond,
        r: &DetectionRule,
        typed: &[Option<FlowTest>],
        tests: &mut FlowTests,
        needs: &mut u128,
    ) -> Option<Node> {
        let mut all = |v: &[Cond], tests: &mut FlowTests| {
            v.iter()
                .map(|c| Self::cond(c, r, typed, tests, needs))
                .collect::<Option<Box<[Node]>>>()
        };
        Some(match c {
            Cond::Sel(i) => {
                // A selection the rule lacks holds for no record, as an empty one.
                let Some(s) = r.det.selections.get(*i) else {
                    return Some(Node::Sel(Box::new([])));
                };
                let ids = r.item_ids.get(*i)?;
                let groups = s
                    .groups
                    .iter()
                    .enumerate()
                    .map(|(gi, g)| {
                        let ids = ids.get(gi)?;
                        (0..g.len()).try_fold(0u128, |mask, ii| {
                            let n = tests.number(*ids.get(ii)?, typed)?;
                            Some(mask | 1u128 << n)
                        })
                    })
                    .collect::<Option<Box<[u128]>>>()?;
                *needs |= groups.iter().fold(0, |a, g| a | g);
                Node::Sel(groups)
            }
            Cond::And(v) => Node::And(all(v, tests)?),
            Cond::Or(v) => Node::Or(all(v, tests)?),
            Cond::Not(c) => Node::Not(Box::new(Self::cond(c, r, typed, tests, needs)?)),
        })
    }

    /// Whether the condition has the flat form (for tests).
    #[cfg(test)]
    pub(crate) fn is_flat(&self) -> bool {
        matches!(self.form, Form::Flat { .. })
    }

    /// Whether the condition holds for `r` (`bits`: the record's test results so far, to which
    /// this rule's tests are added).
    #[inline]
    pub fn eval(&self, tests: &FlowTests, r: &FlowRecord<'_>, bits: &mut FlowBits) -> bool {
        tests.run(self.needs, r, bits);
        let held = bits.held;
        match &self.form {
            Form::Flat { all, any, none } => {
                all_held(held, *all)
                    && any.iter().all(|gs| gs.iter().any(|&g| all_held(held, g)))
                    && none.iter().all(|&g| !all_held(held, g))
            }
            Form::Tree(n) => n.holds(held),
        }
    }
}

impl Form {
    /// The flat form of `n` when it has that shape, else `n` itself.
    fn of(n: Node) -> Form {
        let parts = match &n {
            Node::And(v) => &v[..],
            Node::Sel(_) => std::slice::from_ref(&n),
            _ => return Form::Tree(n),
        };
        let (mut all, mut any, mut none) = (0u128, Vec::new(), Vec::new());
        for p in parts {
            match p {
                Node::Sel(gs) if gs.len() == 1 => all |= gs[0],
                Node::Sel(gs) => any.push(gs.clone()),
                Node::Not(inner) => match &**inner {
                    Node::Sel(gs) => none.extend_from_slice(gs),
                    _ => return Form::Tree(n),
                },
                _ => return Form::Tree(n),
            }
        }
        Form::Flat {
            all,
            any: any.into_boxed_slice(),
            none: none.into_boxed_slice(),
        }
    }
}

/// Whether every test of mask `g` holds.
#[inline]
fn all_held(held: u128, g: u128) -> bool {
    held & g == g
}

impl Node {
    fn holds(&self, held: u128) -> bool {
        match self {
            Node::Sel(groups) => groups.iter().any(|&g| all_held(held, g)),
            Node::And(v) => v.iter().all(|n| n.holds(held)),
            Node::Or(v) => v.iter().any(|n| n.holds(held)),
            Node::Not(n) => !n.holds(held),
        }
    }
}

impl FlowBits {
    /// No test run yet (a new record).
    pub fn clear(&mut self) {
        *self = FlowBits::default();
    }
}
