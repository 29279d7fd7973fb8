//! Live progress of the demo: a table redrawn in place on a terminal, plain lines (one per
//! change) otherwise.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

/// One lesson's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Lesson slug.
    pub lesson: String,
    /// Livelesson status.
    pub status: String,
    /// Reachable endpoints.
    pub healthy: i32,
    /// Endpoints.
    pub total: i32,
    /// Step in progress.
    pub step: String,
}

/// Where progress goes.
pub struct Display {
    redraw: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    drawn: usize,
    last: Vec<Row>,
}

impl Display {
    /// Redraws in place on a terminal unless `plain`.
    pub fn new(plain: bool) -> Self {
        Self {
            redraw: !plain && std::io::stdout().is_terminal(),
            state: Mutex::new(State::default()),
        }
    }

    /// Shows the current rows.
    pub fn show(&self, rows: Vec<Row>) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = std::io::stdout().lock();
        if self.redraw {
            if state.drawn > 0 {
                let _ = write!(out, "\x1b[{}A", state.drawn);
            }
            for row in &rows {
                let _ = writeln!(out, "\x1b[2K{}", line(row));
            }
            state.drawn = rows.len();
        } else {
            for row in &rows {
                if !state.last.contains(row) {
                    let _ = writeln!(out, "{}", line(row));
                }
            }
        }
        let _ = out.flush();
        state.last = rows;
    }

    /// Prints a line of its own (a learner's reload); the table is drawn again below it.
    pub fn note(&self, text: &str) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
        state.drawn = 0;
    }

    /// Ends a phase: the next `show` starts below what is drawn.
    pub fn finish(&self) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.drawn = 0;
    }
}

fn line(row: &Row) -> String {
    let step = if row.step.is_empty() {
        String::new()
    } else {
        format!("  step {}", row.step)
    };
    format!(
        "  {:<28} {:<14} reachable {}/{}{}",
        row.lesson, row.status, row.healthy, row.total, step
    )
}
