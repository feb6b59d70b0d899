//! lb-test-support
