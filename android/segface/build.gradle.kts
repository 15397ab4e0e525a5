// The AAR: the Java wrapper (ai.segface.SegFace) plus libsegface.so for each ABI, built from the
// Rust crate by build-rust.sh (cargo-ndk) before the Android build packages jniLibs.
plugins {
    id("com.android.library")
}

android {
    namespace = "ai.segface"
    compileSdk = 35
    ndkVersion = "28.0.13004108" // r28+: 16 KB page-aligned ELF segments by default

    defaultConfig {
        minSdk = 24
        consumerProguardFiles("consumer-rules.pro")
    }

    sourceSets["main"].jniLibs.srcDir("src/main/jniLibs")

    packaging {
        jniLibs {
            // Let the app strip symbols, so it can upload native debug symbols first.
            keepDebugSymbols += "**/libsegface.so"
            useLegacyPackaging = false
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_1_8
        targetCompatibility = JavaVersion.VERSION_1_8
    }
}

val buildRust by tasks.registering(Exec::class) {
    description = "Builds libsegface.so for arm64-v8a, armeabi-v7a and x86_64 with cargo-ndk"
    workingDir = rootDir
    commandLine("sh", "build-rust.sh")
}

tasks.named("preBuild") { dependsOn(buildRust) }
