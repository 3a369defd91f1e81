package cli

func dataCommands() []*command { return nil }
