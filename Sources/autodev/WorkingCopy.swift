import Agent

/// The git working copy of autodev's own source (the Agent module's), which `autodev init
/// --source` clones and source upgrades and the agent change.
typealias WorkingCopy = Agent.WorkingCopy
