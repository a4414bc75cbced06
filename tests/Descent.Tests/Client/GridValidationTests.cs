using Descent.Sweeps;
using static Descent.Tests.Client.GridFiles;

namespace Descent.Tests.Client;

/// <summary>Every problem a grid file can have is reported, all at once, naming the field, the value and where.</summary>
public class GridValidationTests
{
    static GridProblem One(IReadOnlyList<GridProblem> problems, string field)
    {
        var matching = problems.Where(p => p.Field == field).ToList();
        Assert.True(matching.Count == 1, $"expected one problem at {field}, got: {string.Join(" | ", problems)}");
        return matching[0];
    }

    [Fact]
    public void A_missing_file_an_empty_file_and_a_folder_are_named()
    {
        var folder = Folder();
        var missing = Assert.Throws<GridException>(() => GridFile.Load(Path.Combine(folder, "nope.json"))).Problems;
        Assert.Contains("no such file", One(missing, "file").Message);
        Assert.Contains("nope.json", missing[0].Value);

        var empty = Assert.Throws<GridException>(() => GridFile.Load(Write("  \n", folder, "empty.json"))).Problems;
        Assert.Contains("is empty", One(empty, "file").Message);

        Assert.Contains("folder", Assert.Throws<GridException>(() => GridFile.Load(folder)).Problems[0].Message);
    }

    [Fact]
    public void A_json_syntax_error_gives_line_and_column()
    {
        var problem = One(Problems("{\n  \"name\": \"x\",\n  \"task\": {\"kind\": \"synthetic\",, }\n}"), "file");
        Assert.Contains("not valid JSON", problem.Message);
        Assert.Equal(3, problem.Line);
        Assert.Equal(32, problem.Column);
        Assert.StartsWith("line 3, column 32: file", problem.ToString());

        var duplicate = One(Problems("{\"name\": \"a\", \"name\": \"b\"}"), "name");
        Assert.Contains("given twice", duplicate.Message);
        Assert.Equal((1, 23), (duplicate.Line, duplicate.Column));

        Assert.Contains("must be a JSON object", One(Problems("[1, 2]"), "file").Message);
    }

    [Fact]
    public void Unknown_keys_are_reported_with_the_near_match()
    {
        var problems = Problems("""
            {"name": "t",
             "task": {"kind": "synthetic", "n_rows": 50, "dim_in": 3, "dim_hidden": 4, "n_layers": 1},
             "budget": {"step": 3},
             "paramters": {},
             "parameters": {"optimizer": ["sgd"], "learning_rate": [0.1], "lr": {"vlaues": [0.1]}},
             "metric": {"name": "final_loss", "goals": "minimize"}}
            """);
        Assert.Contains("did you mean \"parameters\"?", One(problems, "paramters").Message);
        Assert.Contains("did you mean \"n_row\"?", One(problems, "task.n_rows").Message);
        Assert.Contains("did you mean \"steps\"?", One(problems, "budget.step").Message);
        Assert.Contains("did you mean \"lr\"?", One(problems, "parameters.learning_rate").Message);
        Assert.Contains("did you mean \"values\"?", One(problems, "parameters.lr.vlaues").Message);
        Assert.Contains("did you mean \"goal\"?", One(problems, "metric.goals").Message);
        var position = One(problems, "budget.step");
        Assert.Equal((3, 21), (position.Line, position.Column));
    }

    [Fact]
    public void Unknown_optimizer_method_task_kind_variant_and_distribution_are_named()
    {
        var problems = Problems("""
            {"task": {"kind": "synthetc", "n_row": 5},
             "method": "bayes",
             "parameters": {"optimizer": {"values": ["sgd", "keep-steping"]}, "variant": ["seed", "fixed"]}}
            """);
        Assert.Contains("did you mean \"synthetic\"?", One(problems, "task.kind").Message);
        Assert.Equal("\"synthetc\"", One(problems, "task.kind").Value);
        Assert.Contains("unknown method", One(problems, "method").Message);
        Assert.Contains("grid, random", One(problems, "method").Message);
        var optimizer = One(problems, "parameters.optimizer.values[1]");
        Assert.Equal("\"keep-steping\"", optimizer.Value);
        Assert.Contains("did you mean \"keep-stepping\"?", optimizer.Message);
        Assert.Contains("unknown variant", One(problems, "parameters.variant[1]").Message);

        var distribution = Problems(Grid("\"optimizer\": \"sgd\", \"lr\": {\"distribution\": \"normal\", \"min\": 1, \"max\": 2}", "\"method\": \"random\", \"trials\": 3,"));
        Assert.Contains("unknown distribution", One(distribution, "parameters.lr.distribution").Message);
    }

    [Fact]
    public void An_unknown_optimizer_is_the_one_problem_even_beside_per_optimizer_settings_of_known_ones()
    {
        var problems = Problems("""
            {"task": {"kind": "synthetic", "n_row": 5, "dim_in": 2, "dim_hidden": 2, "n_layers": 1},
             "parameters": {"optimizer": {"values": ["sgd", "adam", "adamw"]}},
             "per_optimizer": {"sgd": {"steps": 1000}, "adam": {"steps": 1000}}}
            """);
        var problem = Assert.Single(problems);
        Assert.Equal("parameters.optimizer.values[2]", problem.Field);
        Assert.Contains("did you mean \"adam\"?", problem.Message);
    }

    [Fact]
    public void Out_of_range_values_name_field_and_value()
    {
        var problems = Problems("""
            {"task": {"kind": "synthetic", "n_row": 0, "dim_in": 3, "dim_hidden": -1, "n_layers": 1, "seed": -5},
             "budget": {"steps": 0, "seconds": -1},
             "parameters": {"optimizer": ["keep-stepping"], "lr": [0.1, 0, -0.5], "max_steps": [0], "scale_i": [-1]},
             "repeats": 0, "max_retries": -1}
            """);
        Assert.Equal("0", One(problems, "task.n_row").Value);
        Assert.Contains("at least 1", One(problems, "task.n_row").Message);
        Assert.Equal("-1", One(problems, "task.dim_hidden").Value);
        Assert.Contains("0 or more", One(problems, "task.seed").Message);
        Assert.Contains("at least 1", One(problems, "budget.steps").Message);
        Assert.Contains("above 0", One(problems, "budget.seconds").Message);
        Assert.Contains("above 0", One(problems, "parameters.lr[1]").Message);
        Assert.Equal("-0.5", One(problems, "parameters.lr[2]").Value);
        Assert.DoesNotContain(problems, p => p.Field == "parameters.lr[0]");
        Assert.Contains("at least 1", One(problems, "parameters.max_steps[0]").Message);
        Assert.Contains("0 or more", One(problems, "parameters.scale_i[0]").Message);
        Assert.Contains("at least 1", One(problems, "repeats").Message);
        Assert.Contains("at least 0", One(problems, "max_retries").Message);
        Assert.Equal(11, problems.Count);
    }

    [Fact]
    public void Wrong_types_are_named()
    {
        var problems = Problems("""
            {"name": 3, "task": {"kind": "synthetic", "n_row": "many", "dim_in": 2.5, "dim_hidden": 4, "n_layers": 1},
             "budget": [100],
             "parameters": {"optimizer": {"values": "sgd"}, "lr": {"value": true}, "max_steps": [{"a": 1}]}}
            """);
        Assert.Contains("must be a string", One(problems, "name").Message);
        Assert.Contains("whole number, not a string", One(problems, "task.n_row").Message);
        Assert.Contains("whole number", One(problems, "task.dim_in").Message);
        Assert.Contains("must be an object", One(problems, "budget").Message);
        Assert.Contains("must be a list", One(problems, "parameters.optimizer.values").Message);
        Assert.Contains("must be a number, not true/false", One(problems, "parameters.lr.value").Message);
        Assert.Contains("not an object", One(problems, "parameters.max_steps[0]").Message);
    }

    [Fact]
    public void Missing_sections_and_task_fields_are_named()
    {
        var problems = Problems("{\"name\": \"x\"}");
        Assert.Contains("missing", One(problems, "task").Message);
        Assert.Contains("missing", One(problems, "parameters").Message);

        var fields = Problems("""{"task": {"kind": "linear", "n_row": 5}, "parameters": {"lr": [0.1]}}""");
        Assert.Contains("missing", One(fields, "task.k").Message);
        Assert.Contains("missing", One(fields, "parameters.optimizer").Message);

        Assert.Contains("missing", One(Problems("""{"task": {"n_row": 5}, "parameters": {"optimizer": "sgd"}}"""), "task.kind").Message);
    }

    [Fact]
    public void A_csv_task_whose_file_is_missing_is_named()
    {
        var problem = One(Problems(Grid("\"optimizer\": \"sgd\"", task: """{"kind": "csv", "path": "no-such.csv", "target": "y"}""")), "task.path");
        Assert.Equal("\"no-such.csv\"", problem.Value);
        Assert.Contains("no such file", problem.Message);
    }

    [Fact]
    public void Fields_that_do_not_fit_the_task_or_method_are_named()
    {
        var problems = Problems(Grid("""
            "optimizer": "sgd",
            "k": [3],
            "lr": {"distribution": "uniform", "min": 0.1, "max": 0.2},
            "n_layers": [2]
            """, "\"trials\": 5,"));
        Assert.Contains("not a field of synthetic tasks", One(problems, "parameters.k").Message);
        Assert.Contains("needs \"method\": \"random\"", One(problems, "parameters.lr.distribution").Message);
        Assert.Contains("give it in one place", One(problems, "parameters.n_layers").Message);
        Assert.Contains("only a random search", One(problems, "trials").Message);

        var random = Problems(Grid("""
            "optimizer": {"distribution": "uniform", "min": 0, "max": 1},
            "max_steps": {"distribution": "uniform", "min": 1, "max": 5},
            "lr": {"distribution": "log_uniform", "min": 0, "max": 0.1},
            "scale_i": {"distribution": "uniform", "min": 3, "max": 1}
            """, "\"method\": \"random\","));
        Assert.Contains("missing", One(random, "trials").Message);
        Assert.Contains("choices with \"values\"", One(random, "parameters.optimizer.distribution").Message);
        Assert.Contains("use int_uniform", One(random, "parameters.max_steps.distribution").Message);
        Assert.Contains("above 0", Assert.Single(random.Where(p => p.Field == "parameters.lr.min"), p => p.Message.Contains("finite")).Message);
        Assert.Contains("above min", One(random, "parameters.scale_i.max").Message);
    }

    [Fact]
    public void Numbers_that_are_not_finite_are_named_with_their_field_and_value()
    {
        var problems = Problems("""
            {"task": {"kind": "linear", "n_row": 1e400, "k": 2, "noise": 1e39, "seed": -1e400},
             "budget": {"steps": 3, "seconds": 1e400, "target_loss": -1e400},
             "metric": {"name": "time_to_target", "target": 1e400},
             "parameters": {"optimizer": ["sgd", "keep-stepping"], "lr": [1e400, 1e39, 0.1], "scale_i": {"value": -1e400}}}
            """);
        void Is(string field, string value, string message)
        {
            var problem = One(problems, field);
            Assert.Equal((value, message), (problem.Value, problem.Message));
        }
        Is("task.n_row", "1e400", "must be a finite whole number (it overflows float64)");
        Is("task.seed", "-1e400", "must be a finite whole number (it overflows float64)");
        Is("task.noise", "1e39", "must be a finite number of 0 or more (it overflows float32, the type of the data)");
        Is("budget.seconds", "1e400", "must be a finite number (it overflows float64)");
        Is("budget.target_loss", "-1e400", "must be a finite number (it overflows float64)");
        Is("metric.target", "1e400", "must be a finite number (it overflows float64)");
        Is("parameters.lr[0]", "1e400", "must be a finite number (it overflows float64)");
        Is("parameters.lr[1]", "1e39", "must be a finite number above 0 (it overflows float32, the type of the parameters it moves)");
        Is("parameters.scale_i.value", "-1e400", "must be a finite number (it overflows float64)");
        Assert.Equal(9, problems.Count);

        var bounds = Problems(Grid("\"optimizer\": \"sgd\", \"lr\": {\"distribution\": \"log_uniform\", \"min\": 1e-5, \"max\": 1e400}",
            "\"method\": \"random\", \"trials\": 3,"));
        Assert.Equal("must be a finite number (it overflows float64)", One(bounds, "parameters.lr.max").Message);
        Assert.Equal("must be a number, not a string", One(Problems(Grid("\"optimizer\": \"sgd\", \"lr\": \"NaN\"")), "parameters.lr").Message);
    }

    [Theory]
    [InlineData("NaN")]
    [InlineData("-NaN")]
    [InlineData("nan")]
    [InlineData("Infinity")]
    [InlineData("-Infinity")]
    [InlineData("+Infinity")]
    [InlineData("inf")]
    [InlineData("∞")]
    public void A_nan_or_infinity_where_a_number_belongs_is_named_with_its_field(string literal)
    {
        const string Message = "must be a finite number; JSON has no NaN or Infinity (Python's json module writes them for float('nan') and float('inf'))";
        var json = Grid($"\"optimizer\": [\"sgd\"], \"lr\": [0.1, {literal}]");
        var inList = Assert.Single(Problems(json));
        Assert.Equal(("parameters.lr[1]", literal, Message), (inList.Field, inList.Value, inList.Message));
        Assert.Equal((1, json.IndexOf(literal, StringComparison.Ordinal) + 1), (inList.Line, inList.Column));

        var inBudget = Assert.Single(Problems($$$"""
            {"task": {"kind": "synthetic", "n_row": 50, "dim_in": 3, "dim_hidden": 4, "n_layers": 1},
             "budget": {"steps": 3, "seconds": {{{literal}}}},
             "parameters": {"optimizer": "sgd"}}
            """));
        Assert.Equal(("budget.seconds", literal, Message, 2), (inBudget.Field, inBudget.Value, inBudget.Message, inBudget.Line));
        var inValue = Assert.Single(Problems(Grid($"\"optimizer\": \"sgd\", \"lr\": {{\"value\": {literal}}}")));
        Assert.Equal("parameters.lr.value", inValue.Field);
    }

    [Fact]
    public void Other_syntax_errors_stay_syntax_errors() =>
        Assert.Contains("not valid JSON", One(Problems(Grid("\"optimizer\": \"sgd\", \"lr\": infinite")), "file").Message);

    [Fact]
    public void Metric_problems_are_named()
    {
        var maximize = Problems(Grid("\"optimizer\": \"sgd\"", "\"metric\": {\"name\": \"final_loss\", \"goal\": \"maximize\"},"));
        Assert.Contains("must be \"minimize\"", One(maximize, "metric.goal").Message);
        var noTarget = Problems(Grid("\"optimizer\": \"sgd\"", "\"metric\": {\"name\": \"time_to_target\"},"));
        Assert.Contains("needs a target", One(noTarget, "metric.target").Message);
        var unknown = Problems(Grid("\"optimizer\": \"sgd\"", "\"metric\": {\"name\": \"final-loss\"},"));
        Assert.Contains("did you mean \"final_loss\"?", One(unknown, "metric.name").Message);
    }

    [Fact]
    public void Per_optimizer_problems_are_named()
    {
        var problems = Problems(Grid("\"optimizer\": [\"sgd\", \"adam\"]", """
            "per_optimizer": {"sgdd": {"steps": 10}, "adam": {"max_steps": [5], "optimizer": "sgd"}, "newton": {"steps": 1}},
            """));
        Assert.Contains("did you mean \"sgd\"?", One(problems, "per_optimizer.sgdd").Message);
        Assert.Contains("adam does not read max_steps", One(problems, "per_optimizer.adam.max_steps").Message);
        Assert.Contains("parameters.optimizer", One(problems, "per_optimizer.adam.optimizer").Message);
        Assert.Contains("not among", One(problems, "per_optimizer.newton").Message);
    }

    [Fact]
    public void A_grid_past_the_cap_is_refused_before_it_is_expanded()
    {
        // 6 x 10^6 combinations: refused from the counts alone.
        var values = string.Join(", ", Enumerable.Range(1, 100).Select(i => (i * 1e-4).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var grid = Grid($"\"optimizer\": [\"keep-stepping\"], \"lr\": [{values}], \"max_steps\": [{string.Join(", ", Enumerable.Range(1, 100))}], \"scale_i\": [{string.Join(", ", Enumerable.Range(0, 100))}]",
            "\"repeats\": 6,");
        var problem = One(Problems(grid), "parameters");
        Assert.Contains("6,000,000 trials", problem.Message);
        Assert.Contains("cap of 10,000", problem.Message);

        var small = Grid("\"optimizer\": [\"sgd\"], \"lr\": [0.1, 0.2, 0.3]");
        Assert.Equal(3, Plan(small, maxTrials: 3).Trials.Count);
        Assert.Contains("cap of 2", One(Problems(small, maxTrials: 2), "parameters").Message);
        Assert.Contains("cap of 4", One(Problems(Grid("\"optimizer\": [\"sgd\"]", "\"method\": \"random\", \"trials\": 5,"), maxTrials: 4), "trials").Message);
    }

    [Fact]
    public void Every_problem_is_reported_at_once()
    {
        var problems = Problems("""
            {"task": {"kind": "synthetic", "n_row": -1, "dim_in": 3, "dim_hidden": 4, "n_layers": 1},
             "method": "grids",
             "parameters": {"optimizer": ["sgd", "adamw"], "lr": [-1]}, "extra": 1}
            """);
        Assert.Equal(["task.n_row", "method", "parameters.optimizer[1]", "parameters.lr[0]", "extra"], problems.Select(p => p.Field));
        Assert.All(problems, p => Assert.NotNull(p.Line));
    }

    [Fact]
    public void Text_that_is_not_text_is_named_with_its_position()
    {
        var folder = Folder();
        var bytes = "{\"name\": \"a\",\n \"task\": \"x\uFFFD\"}"u8.ToArray();
        var broken = bytes.Select(b => b).ToList();
        var at = Array.IndexOf(bytes, (byte)0xEF); // the replacement character's first byte: make it an invalid one
        broken[at] = 0xFF;
        File.WriteAllBytes(Path.Combine(folder, "latin1.json"), [.. broken]);
        var invalid = One(Assert.Throws<GridException>(() => GridFile.Load(Path.Combine(folder, "latin1.json"))).Problems, "file");
        Assert.Contains("not UTF-8", invalid.Message);
        Assert.Equal((2, 12), (invalid.Line, invalid.Column));

        var surrogate = One(Problems("{\"name\": \"\\uD800\"}"), "file");
        Assert.Contains("lone UTF-16 surrogate", surrogate.Message);
        Assert.Equal((1, 10), (surrogate.Line, surrogate.Column));

        var nul = One(Problems(Grid("\"optimizer\": \"sgd\"", task: """{"kind": "csv", "path": "a\u0000b", "target": "y"}""")), "task.path");
        Assert.Contains("NUL", nul.Message);
    }

    [Fact]
    public void Columns_count_characters_and_duplicate_keys_are_placed()
    {
        var syntax = One(Problems("{\"name\": \"h\u00e9llo w\u00f6rld \u2603\u2603\u2603\", x}"), "file");
        Assert.Equal((1, 29), (syntax.Line, syntax.Column));

        var duplicate = One(Problems("{\n \"task\": {\"kind\": \"linear\", \"n_row\": 5, \"k\": 1},\n \"parameters\": {\"optimizer\": \"sgd\",\n   \"lr\": 0.1, \"lr\": 0.2}}"), "parameters.lr");
        Assert.Contains("given twice", duplicate.Message);
        Assert.Equal((4, 21), (duplicate.Line, duplicate.Column)); // where its second value is

        var twice = Problems("""
            {"task": {"kind": "linear", "n_row": 5, "task.n_row": 6, "k": 1}, "budget": {"steps": 3, "budget.steps": 4},
             "parameters": {"optimizer": ["sgd", "adam"]}, "per_optimizer": {"sgd": {"steps": 5}, "SGD": {"steps": 6}}}
            """);
        Assert.Contains("given twice", One(twice, "task.task.n_row").Message);
        Assert.Contains("given twice", One(twice, "budget.budget.steps").Message);
        Assert.Contains("given twice", One(twice, "per_optimizer.SGD").Message);
    }

    [Fact]
    public void Whole_numbers_may_be_written_as_decimals_and_seeds_stay_in_range()
    {
        var plan = Plan(Grid("\"optimizer\": \"keep-stepping\", \"max_steps\": [1e1, 20.0]", "\"repeats\": 2.0,"));
        Assert.Equal([10, 10, 20, 20], plan.Trials.Select(t => t.Spec.Optimizer.MaxSteps));
        var problems = Problems(Grid("\"optimizer\": \"keep-stepping\", \"max_steps\": [2.5, -3000000000, 1e30]"));
        Assert.Contains("whole number", One(problems, "parameters.max_steps[0]").Message);
        Assert.Contains("at least -2147483648", One(problems, "parameters.max_steps[1]").Message);
        Assert.Contains("too large", One(problems, "parameters.max_steps[2]").Message);

        var seeds = Problems(Grid("\"optimizer\": \"sgd\", \"seed\": {\"distribution\": \"int_uniform\", \"min\": 0, \"max\": 9223372036854775807}",
            "\"method\": \"random\", \"trials\": 2,", """{"kind": "linear", "n_row": 5, "k": 1}"""));
        Assert.Contains("at most 9007199254740992", One(seeds, "parameters.seed.max").Message);
    }

    [Fact]
    public void Odd_but_harmless_files_and_follow_on_problems()
    {
        // A file named ".json" has no name to default to.
        var folder = Folder();
        var plan = GridFile.Load(Write(Grid("\"optimizer\": \"sgd\"").Replace("\"name\": \"t\", ", ""), folder, ".json"));
        Assert.Equal("sweep", plan.Name);

        var stray = Problems(Grid("\"optimizer\": \"sgd\", \"lr\": {\"values\": [0.1], \"min\": 5, \"max\": -1}"));
        Assert.Contains("goes with a distribution", One(stray, "parameters.lr.min").Message);
        Assert.Contains("goes with a distribution", One(stray, "parameters.lr.max").Message);

        // An unknown kind is one problem, not one more per task field.
        var kind = Problems("""{"task": {"kind": "tabular"}, "parameters": {"optimizer": "sgd", "target": ["y"]}}""");
        Assert.Equal(["task.kind"], kind.Select(p => p.Field));

        var swept = Problems(Grid("\"optimizer\": \"sgd\", \"target_loss\": [0.1, 0.2]", "\"metric\": {\"name\": \"time_to_target\"},"));
        Assert.Contains("budget.target_loss is swept", One(swept, "metric.target").Message);
    }

    [Fact]
    public void Swept_values_show_as_the_trials_run_them()
    {
        var folder = Folder();
        File.WriteAllText(Path.Combine(folder, "data.csv"), "x,y\n1,2\n");
        var plan = GridFile.Load(Write(Grid("\"optimizer\": \"sgd\", \"path\": [\"data.csv\"], \"model\": [\"MLP\"]",
            task: """{"kind": "csv", "target": "y"}"""), folder));
        var trial = Assert.Single(plan.Trials);
        Assert.Equal(Path.Combine(folder, "data.csv"), Config(trial, "path"));
        Assert.Equal("mlp", Config(trial, "model"));
    }
}
