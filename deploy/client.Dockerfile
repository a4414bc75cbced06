# descent-client in a container: the sweep Job of deploy/k8s/sweep. Build from the repository root:
#   docker build -f deploy/client.Dockerfile -t descent-client .
# The client trains nothing when given --cluster, but it can also run an embedded silo (no --cluster), so it carries
# the CPU build of TorchSharp. The image copies what `dotnet publish src/Client` writes; the tests publish the same
# output and run it (tests/Descent.Tests/Deploy/PublishedOutputTests.cs).
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish src/Client -c Release -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app .
USER $APP_UID
ENTRYPOINT ["dotnet", "descent-client.dll"]
