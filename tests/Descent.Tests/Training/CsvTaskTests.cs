using Descent.Contracts.Trials;
using Descent.Grains.Training;
using Descent.Grains.Training.Tasks;

namespace Descent.Tests.Training;

public sealed class CsvTaskTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("descent-csv-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    static TrialResult Train(string path, string target = "y", CsvModel model = CsvModel.Linear, OptimizerKind optimizer = OptimizerKind.Newton, int steps = 1) =>
        Trainer.Run(Specs.Trial(new CsvTaskSpec(path, target, model, DimHidden: 3, NLayers: 1), new OptimizerSpec(optimizer, Lr: 0.01), steps));

    static void AssertFails(TrialResult result, params string[] fragments)
    {
        Assert.Equal(TrialStatus.Failed, result.Status);
        Assert.Empty(result.History);
        foreach (var f in fragments) Assert.Contains(f, result.Message);
    }

    [Fact]
    public void A_linear_model_fits_a_linear_file_in_one_newton_step()
    {
        var rows = Enumerable.Range(0, 40).Select(i => (a: i * 0.25, b: Math.Sin(i)));
        var path = Write("data.csv", "a,\"b\",y\n" + string.Join("\n", rows.Select(r => FormattableString.Invariant($"{r.a},{r.b},{2 * r.a - 3 * r.b + 1}"))) + "\n");
        var result = Train(path);
        Assert.Equal(TrialStatus.Completed, result.Status);
        Assert.True(result.FinalLoss < 1e-6, $"final loss {result.FinalLoss}");
    }

    [Fact]
    public void The_mlp_shape_trains_on_a_file()
    {
        var path = Write("data.csv", "y,x1,x2\n1,0.5,2\n2,1.5,1\n3,2.5,0\n4,3,-1\n");
        var result = Train(path, model: CsvModel.Mlp, optimizer: OptimizerKind.Adam, steps: 20);
        Assert.Equal(TrialStatus.Completed, result.Status);
        Assert.True(result.FinalLoss < result.History[0].Loss);
    }

    [Fact]
    public void Missing_file() =>
        AssertFails(Train(Path.Combine(_dir, "nope.csv")), "task.path = ", "nope.csv", "no such file");

    [Fact]
    public void Empty_file() =>
        AssertFails(Train(Write("empty.csv", "")), "the file is empty");

    [Fact]
    public void Missing_target_counts_the_columns_without_naming_them()
    {
        var path = Write("d.csv", "a,b\n1,2\n");
        var result = Train(path, target: "y");
        AssertFails(result);
        Assert.Equal($"task.target = \"y\": {path} has no such column (its header row, line 1, names 2 columns, none of them \"y\")", result.Message);
    }

    [Fact]
    public void Non_numeric_cell_reports_line_and_column_but_not_the_cell()
    {
        var path = Write("d.csv", "a,b,y\n1,2,3\n4,five,6\n");
        var result = Train(path);
        AssertFails(result);
        Assert.Equal($"{path} line 3, column 2: the cell is not a number", result.Message);
    }

    [Fact]
    public void Empty_cell_is_not_a_number() =>
        AssertFails(Train(Write("d.csv", "a,b,y\n1,,3\n")), "line 2, column 2: the cell is not a number");

    /// <summary>Every spelling a CSV may hold for a value that is not a finite float32, and the reason given.</summary>
    public static TheoryData<string, string> NonFiniteCells => new()
    {
        { "nan", "it is NaN" }, { "NaN", "it is NaN" }, { "-nan", "it is NaN" }, { "NAN", "it is NaN" },
        { "nan(ind)", "it is NaN" }, { "-1.#IND", "it is NaN" }, { "1.#QNAN", "it is NaN" },
        { "inf", "it is infinite" }, { "-inf", "it is infinite" }, { "+Inf", "it is infinite" },
        { "Infinity", "it is infinite" }, { "-Infinity", "it is infinite" }, { "+infinity", "it is infinite" },
        { "∞", "it is infinite" }, { "-∞", "it is infinite" }, { "1.#INF", "it is infinite" },
        { "1e39", "it overflows float32" }, { "-1e39", "it overflows float32" }, { "3.5e38", "it overflows float32" },
        { "1e400", "it overflows float32" }, { "-1e400", "it overflows float32" }, { " 1E+309 ", "it overflows float32" },
    };

    [Theory]
    [MemberData(nameof(NonFiniteCells))]
    public void A_feature_cell_that_is_not_a_finite_float32_fails_the_trial_with_its_place(string cell, string reason)
    {
        var path = Write("data.csv", $"a,x1,y\n1,2,3\n4,5,6\n7,{cell},9\n");
        var result = Train(path);
        AssertFails(result);
        Assert.Equal($"{path} line 4, column 2: the cell is not a finite number ({reason})", result.Message);
    }

    [Theory]
    [MemberData(nameof(NonFiniteCells))]
    public void A_target_cell_that_is_not_a_finite_float32_fails_the_trial_with_its_place(string cell, string reason)
    {
        var path = Write("data.csv", $"y,a\n1,2\n{cell},3\n");
        var result = Train(path);
        AssertFails(result);
        Assert.Equal($"{path} line 3, column 1 (the target \"y\"): the cell is not a finite number ({reason})", result.Message);
    }

    [Theory]
    [InlineData("3.4028235e38", 3.4028235e38f)]
    [InlineData("-3.4028235E+38", -3.4028235e38f)]
    [InlineData("1e-50", 0f)] // underflows to 0: finite, accepted
    [InlineData("-0", 0f)]
    public void Float32s_largest_and_smallest_values_are_finite_numbers(string cell, float expected)
    {
        Assert.Equal(expected, CsvTask.Cell(cell, out var problem));
        Assert.Null(problem);
    }

    [Fact]
    public void Ragged_row_reports_its_line() =>
        AssertFails(Train(Write("d.csv", "a,b,y\n1,2,3\n4,5,6\n7,8\n")), "line 4: 2 fields, but the header has 3");

    [Fact]
    public void Header_without_rows() =>
        AssertFails(Train(Write("d.csv", "a,b,y\n")), "no data rows");

    [Fact]
    public void Target_only() =>
        AssertFails(Train(Write("d.csv", "y\n1\n")), "no feature columns");

    [Fact]
    public void Unclosed_quote() =>
        AssertFails(Train(Write("d.csv", "a,b,y\n1,\"2,3\n")), "line 2: a quoted field is not closed");
}
