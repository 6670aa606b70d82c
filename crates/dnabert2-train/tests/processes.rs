//! Training runs with processes of their own: killed and resumed runs, and multi-process
//! data parallelism on 127.0.0.1. Children are this binary again, running one ignored
//! test selected by `--exact` and configured through an environment variable.

mod distributed;
mod pretrain_resume;
