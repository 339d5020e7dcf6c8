//! Test harness: real OVS/OVN daemons in a short temp dir.
