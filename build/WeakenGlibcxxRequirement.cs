// MSBuild inline task (see build/TorchSharpNative.targets for why it exists).
//
// TorchSharp 0.107's libLibTorchSharp.so is built with GCC 13 and lists GLIBCXX_3.4.32 among the
// versions it needs from libstdc++. Debian 12 ships GCC 12's libstdc++ (up to GLIBCXX_3.4.30), so
// the dynamic loader refuses the library and TorchSharp reports a misleading "doesn't contain a
// reference to libtorch-cpu-linux-x64". The only symbol behind that version is
// std::ios_base_library_init(), which no relocation uses. Marking that one version requirement
// VER_FLG_WEAK in .gnu.version_r makes the loader accept its absence; nothing else changes.
//
// The task touches only libraries in the given directories, only when the host's libstdc++ lacks
// the version, and is idempotent (a library already marked weak is left alone).
using System;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public class WeakenGlibcxxRequirement : Task
{
    const uint ShtGnuVerneed = 0x6ffffffe;
    const ushort VerFlgWeak = 0x2;

    /// <summary>Files to patch (libLibTorchSharp.so in an output directory).</summary>
    [Required] public ITaskItem[] Libraries { get; set; } = Array.Empty<ITaskItem>();

    /// <summary>The version requirement to weaken.</summary>
    public string Version { get; set; } = "GLIBCXX_3.4.32";

    static readonly string[] LibstdcxxCandidates =
    {
        "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/usr/lib64/libstdc++.so.6",
        "/lib64/libstdc++.so.6",
        "/usr/lib/libstdc++.so.6",
    };

    public override bool Execute()
    {
        if (Libraries.Length == 0) return true;
        var host = Array.Find(LibstdcxxCandidates, File.Exists);
        if (host is not null && Contains(File.ReadAllBytes(host), Encoding.ASCII.GetBytes(Version + "\0")))
        {
            Log.LogMessage(MessageImportance.Low, $"{host} provides {Version}; TorchSharp's native library needs no patch.");
            return true;
        }
        foreach (var item in Libraries)
        {
            var path = item.ItemSpec;
            try
            {
                var bytes = File.ReadAllBytes(path);
                var stamp = File.GetLastWriteTimeUtc(path);
                var changed = MarkWeak(bytes, Version);
                if (changed < 0)
                {
                    Log.LogWarning($"{path}: not a little-endian ELF64 file with a version-needed section; left unchanged.");
                    continue;
                }
                if (changed == 0) continue;
                // Write a new file and move it over the old one: the output may be a hard link into the NuGet cache.
                var temp = path + ".weakening";
                File.WriteAllBytes(temp, bytes);
                File.Delete(path);
                File.Move(temp, path);
                // Keep the copy's timestamp so that incremental builds see it as up to date and do not copy it again.
                File.SetLastWriteTimeUtc(path, stamp);
                Log.LogMessage(MessageImportance.High, $"Marked {Version} weak in {path} (host libstdc++ lacks it).");
            }
            catch (IOException e)
            {
                Log.LogError($"Could not patch {path}: {e.Message}");
            }
        }
        return !Log.HasLoggedErrors;
    }

    /// <summary>Sets VER_FLG_WEAK on every Vernaux entry named <paramref name="version"/>.
    /// Returns the number of entries changed, or -1 when the file is not an ELF64 LE shared object with .gnu.version_r.</summary>
    public static int MarkWeak(byte[] elf, string version)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F') return -1;
        if (elf[4] != 2 || elf[5] != 1) return -1; // ELFCLASS64, ELFDATA2LSB
        long shoff = (long)BitConverter.ToUInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A);
        int shnum = BitConverter.ToUInt16(elf, 0x3C);
        for (int s = 0; s < shnum; s++)
        {
            long sh = shoff + (long)s * shentsize;
            if (BitConverter.ToUInt32(elf, (int)sh + 4) != ShtGnuVerneed) continue;
            long offset = (long)BitConverter.ToUInt64(elf, (int)sh + 0x18);
            uint link = BitConverter.ToUInt32(elf, (int)sh + 0x28);
            uint count = BitConverter.ToUInt32(elf, (int)sh + 0x2C);
            long strtab = (long)BitConverter.ToUInt64(elf, (int)(shoff + link * shentsize + 0x18));
            int changed = 0;
            long need = offset;
            for (uint n = 0; n < count; n++)
            {
                ushort auxCount = BitConverter.ToUInt16(elf, (int)need + 2);
                long aux = need + BitConverter.ToUInt32(elf, (int)need + 8);
                for (int a = 0; a < auxCount; a++)
                {
                    uint name = BitConverter.ToUInt32(elf, (int)aux + 8);
                    if (ReadString(elf, strtab + name) == version)
                    {
                        ushort flags = BitConverter.ToUInt16(elf, (int)aux + 4);
                        if ((flags & VerFlgWeak) == 0)
                        {
                            BitConverter.GetBytes((ushort)(flags | VerFlgWeak)).CopyTo(elf, (int)aux + 4);
                            changed++;
                        }
                    }
                    aux += BitConverter.ToUInt32(elf, (int)aux + 12);
                }
                need += BitConverter.ToUInt32(elf, (int)need + 12);
            }
            return changed;
        }
        return -1;
    }

    static string ReadString(byte[] bytes, long start)
    {
        long end = start;
        while (end < bytes.Length && bytes[end] != 0) end++;
        return Encoding.ASCII.GetString(bytes, (int)start, (int)(end - start));
    }

    // Inline tasks compile against netstandard2.0: no spans here.
    static bool Contains(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && haystack[i + j] == needle[j]) j++;
            if (j == needle.Length) return true;
        }
        return false;
    }
}
