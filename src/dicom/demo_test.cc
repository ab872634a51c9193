// Placeholder: the demo dataset tests land with demo.cc from its own worktree.
