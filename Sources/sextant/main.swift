import SextantCLI

await Sextant.main()
