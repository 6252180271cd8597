//! Fuzz target bodies, compiled by ordinary test builds so they keep building.
