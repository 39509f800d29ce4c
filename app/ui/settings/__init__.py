"""The Settings tab: app-wide settings drawn from their declaration, and the one bridge from core changes to Qt."""
