//! lb-health
