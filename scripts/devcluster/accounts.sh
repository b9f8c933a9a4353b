# The article's accounts and users in Slurm's accounting (sourced by up). Idempotent:
# sacctmgr's "add" of what exists changes nothing and says so, and the modify sets values.
#
#   root
#   ├── tesla  fairshare 60, no GPU cap          users tesla1 tesla2
#   └── xai    fairshare 40, GrpTRES gres/gpu=4  users xai1 xai2

GF_USERS=("tesla1 tesla" "tesla2 tesla" "xai1 xai" "xai2 xai")

add_accounts() {
    local spec user account
    sacctmgr -i add account tesla cluster="$GF_CLUSTER" parent=root fairshare=60 \
        description=tesla organization=tesla >/dev/null 2>&1 || true
    sacctmgr -i add account xai cluster="$GF_CLUSTER" parent=root fairshare=40 \
        description=xai organization=xai >/dev/null 2>&1 || true
    sacctmgr -i modify account where name=xai cluster="$GF_CLUSTER" \
        set GrpTRES=gres/gpu=4 >/dev/null 2>&1 || true
    for spec in "${GF_USERS[@]}"; do
        read -r user account <<<"$spec"
        # Slurm runs jobs as real Linux users
        id "$user" >/dev/null 2>&1 || useradd -M -s /bin/bash "$user"
        sacctmgr -i add user "$user" account="$account" cluster="$GF_CLUSTER" \
            fairshare=1 >/dev/null 2>&1 || true
    done
    # slurmrestd's own user: an Administrator, so the slurmdb paths answer
    id gfslurmrest >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin gfslurmrest
    sacctmgr -i add user gfslurmrest account=root cluster="$GF_CLUSTER" \
        adminlevel=Administrator >/dev/null 2>&1 || true
    # the cap must be in force, or every quota test that follows would mislead
    sacctmgr -n -P show assoc where account=xai user= format=GrpTRES | grep -q 'gres/gpu=4' || {
        echo "devcluster: xai's GrpTRES gres/gpu=4 is not in force" >&2
        exit 1
    }
}
