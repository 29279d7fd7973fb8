//! Pure builders from a livelesson to typed Kubernetes objects. No I/O.
