//! Import and export: OCI image layout directories, and `docker save` /
//! `podman save` archives (a tar with `manifest.json`, optionally also an
//! OCI layout, as Docker 25+ writes).

use crate::digest;
use crate::error::{Error, IoPath, Result, invalid};
use crate::store::{self, Image, Store, parse_reference, reference_name};
use serde_json::json;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";

fn copy_blob(store: &Store, digest: &str, dir: &Path) -> Result<()> {
    let src = store.blob_path(digest)?;
    let dst = dir.join("blobs/sha256").join(digest::hex_of(digest)?);
    if !dst.exists() {
        fs::copy(&src, &dst).at(&dst)?;
    }
    Ok(())
}

/// Writes `image` (its platform manifest, config and layers) as an OCI image
/// layout in `dir`, adding it to an existing layout's index. `tag` becomes
/// the `org.opencontainers.image.ref.name` annotation.
pub fn export_oci_layout(store: &Store, image: &Image, dir: &Path, tag: &str) -> Result<()> {
    fs::create_dir_all(dir.join("blobs/sha256")).at(dir)?;
    store::write_atomic(
        &dir.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    copy_blob(store, &image.config_digest, dir)?;
    for l in &image.layers {
        copy_blob(store, l.digest().as_ref(), dir)?;
    }
    copy_blob(store, &image.digest, dir)?;
    let mbytes = store.read_blob(&image.digest)?;
    let mt = serde_json::from_slice::<serde_json::Value>(&mbytes)
        .ok()
        .and_then(|v| {
            v.get("mediaType")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| store::MANIFEST_TYPES[0].to_string());
    let mut platform =
        json!({"os": image.platform.os, "architecture": image.platform.architecture});
    if let Some(v) = &image.platform.variant {
        platform["variant"] = json!(v);
    }
    let desc = json!({
        "mediaType": mt,
        "digest": image.digest,
        "size": mbytes.len(),
        "platform": platform,
        "annotations": {REF_NAME: tag, CONTAINERD_NAME: image.name},
    });
    let ipath = dir.join("index.json");
    let mut index = match fs::read(&ipath) {
        Ok(d) => serde_json::from_slice::<serde_json::Value>(&d)
            .map_err(|e| invalid(ipath.display().to_string(), e))?,
        Err(_) => json!({"schemaVersion": 2, "mediaType": store::INDEX_TYPES[0], "manifests": []}),
    };
    let list = index
        .get_mut("manifests")
        .and_then(|m| m.as_array_mut())
        .ok_or_else(|| invalid("index.json", "no manifests array"))?;
    list.retain(|m| {
        m.pointer(&format!("/annotations/{}", REF_NAME.replace('/', "~1")))
            .and_then(|v| v.as_str())
            != Some(tag)
    });
    list.push(desc);
    store::write_atomic(
        &ipath,
        &serde_json::to_vec_pretty(&index).map_err(|e| invalid("index.json", e))?,
    )
}

/// Writes `image` as a tar archive readable by `docker load`, `podman load`
/// and `skopeo` (docker-archive: `manifest.json`, plus an OCI layout).
pub fn export_archive(store: &Store, image: &Image, out: &Path) -> Result<()> {
    let tmp = store
        .root()
        .join("ingest")
        .join(format!(".export-{}", std::process::id()));
    let _ = store::remove_tree(&tmp);
    let tag = image
        .name
        .rsplit_once(':')
        .map(|(_, t)| t)
        .filter(|t| !t.contains('/'))
        .unwrap_or("latest");
    let res = (|| {
        export_oci_layout(store, image, &tmp, tag)?;
        let blob =
            |d: &str| -> Result<String> { Ok(format!("blobs/sha256/{}", digest::hex_of(d)?)) };
        let mut layers = Vec::new();
        for l in &image.layers {
            layers.push(blob(l.digest().as_ref())?);
        }
        let repo_tags: Vec<String> = if image.name.contains('@') {
            vec![]
        } else {
            vec![image.name.clone()]
        };
        let manifest = json!([{ "Config": blob(&image.config_digest)?, "RepoTags": repo_tags, "Layers": layers }]);
        fs::write(
            tmp.join("manifest.json"),
            serde_json::to_vec(&manifest).map_err(|e| invalid("manifest.json", e))?,
        )
        .at(&tmp)?;
        let part = out.with_extension("partial");
        let f = File::create(&part).at(&part)?;
        let mut b = tar::Builder::new(f);
        b.mode(tar::HeaderMode::Deterministic);
        b.follow_symlinks(false);
        b.append_dir_all(".", &tmp).at(&tmp)?;
        b.into_inner().at(&part)?.sync_all().at(&part)?;
        fs::rename(&part, out).at(out)
    })();
    let _ = store::remove_tree(&tmp);
    res
}

/// Imports an OCI layout directory, or a docker-archive / oci-archive tar.
/// `name` names the image when the input carries no usable name (or to
/// override it). Returns the names recorded.
pub fn import(store: &Store, path: &Path, name: Option<&str>) -> Result<Vec<String>> {
    let meta = fs::metadata(path).at(path)?;
    if meta.is_dir() {
        return import_dir(store, path, name);
    }
    let tmp = store
        .root()
        .join("ingest")
        .join(format!(".import-{}", std::process::id()));
    let _ = store::remove_tree(&tmp);
    fs::create_dir_all(&tmp).at(&tmp)?;
    let res = (|| {
        let f = File::open(path).at(path)?;
        let mut u =
            crate::unpack::Unpacker::new(&tmp, crate::unpack::UnpackOptions { chown: false })?;
        u.apply_layer(crate::unpack::decompress(std::io::BufReader::new(f))?)?;
        u.finish()?;
        import_dir(store, &tmp, name)
    })();
    let _ = store::remove_tree(&tmp);
    res
}

fn import_dir(store: &Store, dir: &Path, name: Option<&str>) -> Result<Vec<String>> {
    let _gc = store.gc_lock(false)?;
    if dir.join("manifest.json").is_file() {
        return import_docker_archive(store, dir, name);
    }
    if dir.join("index.json").is_file() {
        return import_oci_layout(store, dir, name);
    }
    Err(invalid(
        dir.display().to_string(),
        "neither an OCI layout (index.json) nor a docker archive (manifest.json)",
    ))
}

fn layout_blob(dir: &Path, digest: &str) -> Result<PathBuf> {
    Ok(dir.join("blobs/sha256").join(digest::hex_of(digest)?))
}

fn import_layout_blob(store: &Store, dir: &Path, digest: &str, size: u64) -> Result<()> {
    let p = layout_blob(dir, digest)?;
    let f = File::open(&p).at(&p)?;
    store.put_blob_reader(digest, Some(size), f)
}

/// Imports a manifest (and its content) or an index (and those of its
/// manifests present in the layout).
fn import_manifest_tree(
    store: &Store,
    dir: &Path,
    desc: &serde_json::Value,
) -> Result<(String, String)> {
    let digest = desc["digest"]
        .as_str()
        .ok_or_else(|| invalid("index.json", "descriptor without digest"))?
        .to_string();
    let size = desc["size"]
        .as_u64()
        .ok_or_else(|| invalid("index.json", "descriptor without size"))?;
    let p = layout_blob(dir, &digest)?;
    let data = fs::read(&p).at(&p)?;
    if data.len() as u64 != size || data.len() as u64 > crate::registry::MAX_MANIFEST {
        return Err(Error::SizeMismatch {
            what: format!("manifest {digest}"),
            expected: size,
            actual: data.len() as u64,
        });
    }
    digest::verify_bytes("manifest", &digest, &data)?;
    let v: serde_json::Value = serde_json::from_slice(&data).map_err(|e| invalid("manifest", e))?;
    let mt = desc["mediaType"]
        .as_str()
        .or(v["mediaType"].as_str())
        .unwrap_or("")
        .to_string();
    let is_index = store::INDEX_TYPES.contains(&mt.as_str()) || v.get("manifests").is_some();
    if is_index {
        let idx = store::parse_index(&data)?;
        let mut any = false;
        for m in idx.manifests() {
            if layout_blob(dir, m.digest().as_ref())?.exists() {
                let d = serde_json::to_value(m).map_err(|e| invalid("index", e))?;
                import_manifest_tree(store, dir, &d)?;
                any = true;
            }
        }
        if !any {
            return Err(invalid(
                format!("index {digest}"),
                "none of its manifests is in the layout",
            ));
        }
    } else {
        let m = store::parse_manifest(&data)?;
        import_layout_blob(store, dir, m.config().digest().as_ref(), m.config().size())?;
        for l in m.layers() {
            import_layout_blob(store, dir, l.digest().as_ref(), l.size())?;
        }
    }
    store.put_blob(&digest, &data)?;
    let mt = if mt.is_empty() {
        if is_index {
            store::INDEX_TYPES[0]
        } else {
            store::MANIFEST_TYPES[0]
        }
        .to_string()
    } else {
        mt
    };
    Ok((digest, mt))
}

fn choose_name(given: Option<&str>, annotated: Option<&str>, fallback_tag: &str) -> Result<String> {
    match (given, annotated) {
        (Some(g), Some(a))
            if !a.contains('/') && !a.contains(':') && !g.contains(':') && !g.contains('@') =>
        {
            Ok(reference_name(&parse_reference(&format!("{g}:{a}"))?))
        }
        (Some(g), _) => Ok(reference_name(&parse_reference(g)?)),
        (None, Some(a)) if a.contains('/') => Ok(reference_name(&parse_reference(a)?)),
        (None, Some(a)) => Ok(reference_name(&parse_reference(&format!(
            "localhost/imported:{a}"
        ))?)),
        (None, None) => Ok(reference_name(&parse_reference(&format!(
            "localhost/imported:{fallback_tag}"
        ))?)),
    }
}

fn import_oci_layout(store: &Store, dir: &Path, name: Option<&str>) -> Result<Vec<String>> {
    let ip = dir.join("index.json");
    let data = fs::read(&ip).at(&ip)?;
    let index: serde_json::Value =
        serde_json::from_slice(&data).map_err(|e| invalid("index.json", e))?;
    let manifests = index["manifests"]
        .as_array()
        .ok_or_else(|| invalid("index.json", "no manifests array"))?;
    if manifests.is_empty() {
        return Err(invalid("index.json", "no manifests"));
    }
    let mut names = Vec::new();
    for (i, desc) in manifests.iter().enumerate() {
        let ann = desc["annotations"][CONTAINERD_NAME]
            .as_str()
            .or(desc["annotations"][REF_NAME].as_str());
        let (digest, mt) = import_manifest_tree(store, dir, desc)?;
        let n = choose_name(name, ann, &format!("{}", i))?;
        store.tag(&n, &digest, &mt)?;
        names.push(n);
    }
    Ok(names)
}

fn sniff_media_type(p: &Path) -> Result<&'static str> {
    let mut magic = [0u8; 4];
    let mut f = File::open(p).at(p)?;
    let n = f.read(&mut magic).at(p)?;
    Ok(if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    } else if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        "application/vnd.oci.image.layer.v1.tar+zstd"
    } else {
        "application/vnd.docker.image.rootfs.diff.tar"
    })
}

fn hash_file(p: &Path) -> Result<(String, u64)> {
    let f = File::open(p).at(p)?;
    let mut hr = digest::HashingReader::new(std::io::BufReader::new(f));
    std::io::copy(&mut hr, &mut std::io::sink()).at(p)?;
    Ok(hr.finish())
}

fn archive_path(dir: &Path, rel: &str) -> Result<PathBuf> {
    let comps = crate::unpack::components(rel.as_bytes())?;
    Ok(comps.iter().fold(dir.to_path_buf(), |p, c| {
        p.join(String::from_utf8_lossy(c).as_ref())
    }))
}

fn import_docker_archive(store: &Store, dir: &Path, name: Option<&str>) -> Result<Vec<String>> {
    let mp = dir.join("manifest.json");
    let data = fs::read(&mp).at(&mp)?;
    let entries: serde_json::Value =
        serde_json::from_slice(&data).map_err(|e| invalid("manifest.json", e))?;
    let entries = entries
        .as_array()
        .ok_or_else(|| invalid("manifest.json", "not an array"))?;
    let mut names = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let cpath = archive_path(
            dir,
            e["Config"]
                .as_str()
                .ok_or_else(|| invalid("manifest.json", "entry without Config"))?,
        )?;
        let cdata = fs::read(&cpath).at(&cpath)?;
        store::parse_config(&cdata)?;
        let cdigest = digest::of_bytes(&cdata);
        store.put_blob(&cdigest, &cdata)?;
        let mut layers = Vec::new();
        for l in e["Layers"]
            .as_array()
            .ok_or_else(|| invalid("manifest.json", "entry without Layers"))?
        {
            let lp = archive_path(
                dir,
                l.as_str()
                    .ok_or_else(|| invalid("manifest.json", "layer is not a path"))?,
            )?;
            let (d, size) = hash_file(&lp)?;
            store.put_blob_reader(&d, Some(size), File::open(&lp).at(&lp)?)?;
            layers.push(json!({"mediaType": sniff_media_type(&lp)?, "size": size, "digest": d}));
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": store::MANIFEST_TYPES[1],
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": cdata.len(), "digest": cdigest},
            "layers": layers,
        });
        let mbytes = serde_json::to_vec(&manifest).map_err(|e| invalid("manifest", e))?;
        let mdigest = digest::of_bytes(&mbytes);
        store.put_blob(&mdigest, &mbytes)?;
        let tags: Vec<&str> = e["RepoTags"]
            .as_array()
            .map(|a| a.iter().filter_map(|t| t.as_str()).collect())
            .unwrap_or_default();
        let chosen: Vec<String> = if let Some(n) = name {
            vec![choose_name(Some(n), None, "latest")?]
        } else if tags.is_empty() {
            vec![choose_name(None, None, &format!("{i}"))?]
        } else {
            tags.iter()
                .map(|t| parse_reference(t).map(|r| reference_name(&r)))
                .collect::<Result<_>>()?
        };
        for n in chosen {
            store.tag(&n, &mdigest, store::MANIFEST_TYPES[1])?;
            names.push(n);
        }
    }
    Ok(names)
}
