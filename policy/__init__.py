"""Policy checks over the resources the program renders: pure functions returning violations."""
