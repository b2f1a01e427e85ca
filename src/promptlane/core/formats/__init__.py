"""Other tools' prompt files, converted to and from a card's payload (pure): Microsoft Prompty
(``.prompty``), Google Dotprompt / Firebase Genkit (``.prompt``) and GitHub Models
(``.prompt.yml``). ``commands/interop.py`` reads and writes the files; docs/interop.md says
what maps to what and what is refused."""
