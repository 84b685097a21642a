"""aftercare: post-treatment management at the place of residence; records relapses and employment support."""
