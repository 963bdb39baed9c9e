fn main() {
    // Migrations are embedded by `sqlx::migrate!`: a new or changed one rebuilds.
    println!("cargo:rerun-if-changed=migrations");
}
