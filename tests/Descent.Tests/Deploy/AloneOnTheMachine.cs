namespace Descent.Tests.Deploy;

/// <summary>Tests that load every core (a silo training on all of them, two <c>dotnet publish</c> runs) or time what
/// they see under their own load: run alone, not beside the other collections, whose timing-sensitive process tests
/// they would slow (a probe answered after 1 s, a second silo that got no trial), and which would slow them.</summary>
[CollectionDefinition(nameof(AloneOnTheMachine), DisableParallelization = true)]
public sealed class AloneOnTheMachine;
