using TorchSharp;
public class SmokeTorch
{
    [Fact]
    public void Loads()
    {
        torch.manual_seed(0);
        var x = torch.randn(20, 3);
        Assert.Equal(-1.12584f, x[0, 0].item<float>(), 4);
    }
}
